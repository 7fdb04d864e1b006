/*
 * runner.c
 *		Times queries chunk by chunk for "make demo" and "make bench".
 *
 * Usage: runner CHUNK NCHUNKS ROUNDS QUERYFILE
 * The connection comes from the PG* environment variables.  QUERYFILE is a
 * list of sections, each a list of lines, run on one connection:
 *	group<TAB>name<TAB>sql	a timed query, run once per chunk with $1 = first
 *							id, $2 = last id (bigint) and $3 = the ids as a
 *							bigint[]; every row is received by the client.
 *							A name containing "[prepared]" is prepared once.
 *	!sql					run untimed (SET, track(), configure() ...): once
 *							before the section's first timed query, in
 *							every round after it
 *	?sql					run once, at the end of the section, its result
 *							printed
 *	@chunk SIZE COUNT		ends the section: chunk size and number of chunks
 *							of the sections that follow
 *	@section				ends the section; the next has the same chunks
 *
 * The chunks are split into ROUNDS consecutive slices, and a section is run
 * once per slice, in order: every query meets every chunk once and in order,
 * but the methods take turns, so that a machine that speeds up or slows down
 * during the run affects them alike.  For each timed query it prints the
 * chunks, the rows, the total time, the first (cold) chunk, the median chunk
 * and the median's ratio to the first two queries of its group (the plain
 * joins).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>

#include <libpq-fe.h>

#define MAXQ 64
#define MAXLINES 256

typedef struct Query
{
	char		group[64];
	char		name[128];
	char	   *sql;
	bool		prepared;
	double	   *times;
	long		rows;
	double		median;
} Query;

static PGconn *conn;
static long chunk;
static long nchunks;
static char *ids;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static PGresult *
run(const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
		PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
		exit(1);
	}
	return res;
}

/* Print a result as an aligned table. */
static void
print_result(PGresult *res)
{
	int			nf = PQnfields(res);
	int			nt = PQntuples(res);
	int			w[64];
	int			i;
	int			j;

	for (j = 0; j < nf && j < 64; j++)
	{
		w[j] = strlen(PQfname(res, j));
		for (i = 0; i < nt; i++)
			if ((int) strlen(PQgetvalue(res, i, j)) > w[j])
				w[j] = strlen(PQgetvalue(res, i, j));
	}
	for (j = 0; j < nf && j < 64; j++)
		printf("%s%*s", j ? "  " : "", w[j], PQfname(res, j));
	printf("\n");
	for (i = 0; i < nt; i++)
	{
		for (j = 0; j < nf && j < 64; j++)
			printf("%s%*s", j ? "  " : "", w[j], PQgetvalue(res, i, j));
		printf("\n");
	}
}

/* Run query q on chunk c, recording its time. */
static void
time_chunk(Query *q, long c)
{
	char		lo[24];
	char		hi[24];
	const char *params[3];
	Oid			types[3] = {20, 20, 1016};
	char	   *p = ids;
	long		id;
	double		t0;
	PGresult   *res;

	snprintf(lo, sizeof(lo), "%ld", c * chunk + 1);
	snprintf(hi, sizeof(hi), "%ld", (c + 1) * chunk);
	*p++ = '{';
	for (id = c * chunk + 1; id <= (c + 1) * chunk; id++)
		p += sprintf(p, "%s%ld", id > c * chunk + 1 ? "," : "", id);
	*p++ = '}';
	*p = '\0';
	params[0] = lo;
	params[1] = hi;
	params[2] = ids;

	t0 = now_ms();
	if (q->prepared)
		res = PQexecPrepared(conn, q->name, 3, params, NULL, NULL, 0);
	else
		res = PQexecParams(conn, q->sql, 3, types, params, NULL, NULL, 0);
	q->times[c] = now_ms() - t0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "%s: %s", q->name, PQerrorMessage(conn));
		exit(1);
	}
	q->rows += PQntuples(res);
	PQclear(res);
}

/* Print the line of query i, once all its chunks ran (groups span sections). */
static void
report(Query *q, int i)
{
	double		total = 0;
	double		firstms = q[i].times[0];
	int			first;
	int			second;
	long		c;

	for (c = 0; c < nchunks; c++)
		total += q[i].times[c];
	qsort(q[i].times, nchunks, sizeof(double), cmp_double);
	q[i].median = nchunks % 2 ? q[i].times[nchunks / 2] :
		(q[i].times[nchunks / 2 - 1] + q[i].times[nchunks / 2]) / 2;

	/* the group's first two queries are its plain joins */
	for (first = 0; first < i; first++)
		if (strcmp(q[first].group, q[i].group) == 0)
			break;
	for (second = first + 1; second < i; second++)
		if (strcmp(q[second].group, q[i].group) == 0)
			break;
	printf("%-10s %-40s %7ld %10ld %10.1f %10.3f %10.3f %9.2f %9.2f\n",
		   q[i].group, q[i].name, nchunks, q[i].rows, total, firstms, q[i].median,
		   q[i].median / q[first].median,
		   second <= i ? q[i].median / q[second].median : 1.0);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	char	   *lines[MAXLINES];
	int			nlines = 0;
	Query		q[MAXQ];
	int			nq = 0;
	int			rounds;
	char	   *line = NULL;
	size_t		cap = 0;
	int			start;

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s CHUNK NCHUNKS ROUNDS QUERYFILE\n", argv[0]);
		return 2;
	}
	chunk = atol(argv[1]);
	nchunks = atol(argv[2]);
	rounds = atoi(argv[3]);
	if ((f = fopen(argv[4], "r")) == NULL)
	{
		perror(argv[4]);
		return 2;
	}
	while (getline(&line, &cap, f) > 0 && nlines < MAXLINES)
	{
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '\0' && line[0] != '#')
			lines[nlines++] = strdup(line);
	}
	fclose(f);
	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}

	for (start = 0; start < nlines;)
	{
		int			end;
		int			first_q = nq;
		int			r;
		int			l;

		for (end = start; end < nlines && lines[end][0] != '@'; end++)
		{
			char	   *g;
			char	   *n;
			char	   *s;

			if (lines[end][0] == '!' || lines[end][0] == '?' || nq == MAXQ)
				continue;
			g = strtok(strdup(lines[end]), "\t");
			n = strtok(NULL, "\t");
			s = strtok(NULL, "");
			if (g == NULL || n == NULL || s == NULL)
				continue;
			snprintf(q[nq].group, sizeof(q[nq].group), "%s", g);
			snprintf(q[nq].name, sizeof(q[nq].name), "%s", n);
			q[nq].sql = s;
			q[nq].prepared = strstr(q[nq].name, "[prepared]") != NULL;
			q[nq].times = malloc(sizeof(double) * nchunks);
			q[nq].rows = 0;
			if (q[nq].prepared)
			{
				Oid			types[3] = {20, 20, 1016};

				PQclear(PQprepare(conn, q[nq].name, q[nq].sql, 3, types));
			}
			nq++;
		}
		ids = realloc(ids, chunk * 21 + 3);
		if (nq > first_q)
			printf("%-10s %-40s %7s %10s %10s %10s %10s %9s %9s\n",
				   "group", "method", "chunks", "rows", "total ms", "first ms",
				   "median ms", "/BETWEEN", "/ANY");

		for (r = 0; r < rounds; r++)
		{
			int			k = first_q;

			for (l = start; l < end; l++)
			{
				if (lines[l][0] == '!')
				{
					if (r == 0 || k > first_q)
						PQclear(run(lines[l] + 1));
				}
				else if (lines[l][0] == '?')
				{
					if (r == rounds - 1)
					{
						PGresult   *res = run(lines[l] + 1);

						printf("\n");
						print_result(res);
						PQclear(res);
					}
				}
				else if (k < nq)
				{
					long		c;

					for (c = nchunks * r / rounds; c < nchunks * (r + 1) / rounds; c++)
						time_chunk(&q[k], c);
					if (r == rounds - 1)
						report(q, k);
					k++;
				}
			}
		}

		if (end < nlines &&
			sscanf(lines[end], "@chunk %ld %ld", &chunk, &nchunks) == 2)
			printf("\n%ld chunks of %ld ids\n", nchunks, chunk);
		else if (end < nlines)
			printf("\n");
		start = end + 1;
	}
	PQfinish(conn);
	return 0;
}
