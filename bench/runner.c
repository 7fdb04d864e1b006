/*
 * runner.c
 *		Times queries chunk by chunk for "make demo" and "make bench".
 *
 * Usage: runner CHUNK NCHUNKS QUERYFILE
 * The connection comes from the PG* environment variables.  QUERYFILE is read
 * line by line, in order, on one connection:
 *	group<TAB>name<TAB>sql	a timed query, run once per chunk with $1 = first
 *							id, $2 = last id (bigint) and $3 = the ids as a
 *							bigint[]; every row is received by the client.
 *							A name containing "[prepared]" is prepared once.
 *	!sql					run once, untimed (SET, track(), configure() ...)
 *	?sql					run once, its result printed
 *	@chunk SIZE COUNT		chunk size and number of chunks from here on
 * For each timed query it prints the chunks, the rows, the total time, the
 * first (cold) chunk, the median chunk and the median's ratio to the first
 * two queries of its group (the plain joins).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>

#include <libpq-fe.h>

#define MAXQ 64

typedef struct Query
{
	char		group[64];
	char		name[128];
	char	   *sql;
	double		median;
} Query;

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

static PGconn *conn;

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

int
main(int argc, char **argv)
{
	long		chunk;
	long		nchunks;
	FILE	   *f;
	Query		q[MAXQ];
	int			nq = 0;
	char	   *line = NULL;
	size_t		cap = 0;
	double	   *times = NULL;
	char	   *ids = NULL;
	bool		header = false;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s CHUNK NCHUNKS QUERYFILE\n", argv[0]);
		return 2;
	}
	chunk = atol(argv[1]);
	nchunks = atol(argv[2]);
	if ((f = fopen(argv[3], "r")) == NULL)
	{
		perror(argv[3]);
		return 2;
	}
	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}

	while (getline(&line, &cap, f) > 0 && nq < MAXQ)
	{
		char	   *g;
		char	   *n;
		char	   *s;
		long		rows = 0;
		double		total = 0;
		long		c;
		int			i = nq;
		int			j;
		int			second;
		bool		prepared;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (line[0] == '!')
		{
			PQclear(run(line + 1));
			continue;
		}
		if (line[0] == '?')
		{
			PGresult   *res = run(line + 1);

			printf("\n");
			print_result(res);
			PQclear(res);
			continue;
		}
		if (line[0] == '@')
		{
			sscanf(line, "@chunk %ld %ld", &chunk, &nchunks);
			printf("\n%ld chunks of %ld ids\n", nchunks, chunk);
			header = false;
			continue;
		}
		g = strtok(line, "\t");
		n = strtok(NULL, "\t");
		s = strtok(NULL, "");
		if (g == NULL || n == NULL || s == NULL)
			continue;
		snprintf(q[i].group, sizeof(q[i].group), "%s", g);
		snprintf(q[i].name, sizeof(q[i].name), "%s", n);
		q[i].sql = strdup(s);
		nq++;
		prepared = strstr(q[i].name, "[prepared]") != NULL;

		if (!header)
		{
			printf("%-10s %-40s %7s %10s %10s %10s %10s %9s %9s\n",
				   "group", "method", "chunks", "rows", "total ms", "first ms",
				   "median ms", "/BETWEEN", "/ANY");
			header = true;
		}
		times = realloc(times, sizeof(double) * nchunks);
		ids = realloc(ids, chunk * 21 + 3);
		if (prepared)
		{
			Oid			types[3] = {20, 20, 1016};

			PQclear(PQprepare(conn, q[i].name, q[i].sql, 3, types));
		}
		for (c = 0; c < nchunks; c++)
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
			if (prepared)
				res = PQexecPrepared(conn, q[i].name, 3, params, NULL, NULL, 0);
			else
				res = PQexecParams(conn, q[i].sql, 3, types, params, NULL, NULL, 0);
			times[c] = now_ms() - t0;
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				fprintf(stderr, "%s: %s", q[i].name, PQerrorMessage(conn));
				return 1;
			}
			rows += PQntuples(res);
			total += times[c];
			PQclear(res);
		}
		{
			double		firstms = times[0];
			int			first;

			qsort(times, nchunks, sizeof(double), cmp_double);
			q[i].median = nchunks % 2 ? times[nchunks / 2] :
				(times[nchunks / 2 - 1] + times[nchunks / 2]) / 2;

			/* the group's first two queries are its plain joins */
			for (j = 0; j < i; j++)
				if (strcmp(q[j].group, q[i].group) == 0)
					break;
			first = j;
			for (second = first + 1; second < i; second++)
				if (strcmp(q[second].group, q[i].group) == 0)
					break;
			printf("%-10s %-40s %7ld %10ld %10.1f %10.3f %10.3f %9.2f %9.2f\n",
				   q[i].group, q[i].name, nchunks, rows, total, firstms,
				   q[i].median, q[i].median / q[first].median,
				   second <= i ? q[i].median / q[second].median : 1.0);
		}
		fflush(stdout);
	}
	fclose(f);
	PQfinish(conn);
	return 0;
}
