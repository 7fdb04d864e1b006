/*
 * runner.c
 *		Times queries chunk by chunk for "make demo" and "make bench".
 *
 * Usage: runner CHUNK NCHUNKS QUERYFILE
 * The connection comes from the PG* environment variables.  QUERYFILE has one
 * query per line: "group<TAB>name<TAB>sql".  Each query runs once per chunk
 * with $1 = first id, $2 = last id (bigint) and $3 = the ids as a bigint[];
 * every row is received by the client.  For each query it prints the chunks,
 * the rows, the total time, the first (cold) chunk, the median chunk and the
 * median's ratio to the first two queries of its group (the plain joins).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	PGconn	   *conn;
	double	   *times;
	char	   *ids;
	int			i;

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
	while (getline(&line, &cap, f) > 0 && nq < MAXQ)
	{
		char	   *g = strtok(line, "\t");
		char	   *n = strtok(NULL, "\t");
		char	   *s = strtok(NULL, "\n");

		if (g == NULL || n == NULL || s == NULL || g[0] == '#')
			continue;
		snprintf(q[nq].group, sizeof(q[nq].group), "%s", g);
		snprintf(q[nq].name, sizeof(q[nq].name), "%s", n);
		q[nq].sql = strdup(s);
		nq++;
	}
	fclose(f);

	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	times = malloc(sizeof(double) * nchunks);
	ids = malloc(chunk * 21 + 3);

	printf("%-10s %-34s %7s %10s %10s %10s %10s %9s %9s\n",
		   "group", "method", "chunks", "rows", "total ms", "first ms",
		   "median ms", "/BETWEEN", "/ANY");
	for (i = 0; i < nq; i++)
	{
		long		rows = 0;
		double		total = 0;
		long		c;
		int			j;
		int			first = i;
		int			second;

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
			printf("%-10s %-34s %7ld %10ld %10.1f %10.2f %10.2f %9.2f %9.2f\n",
				   q[i].group, q[i].name, nchunks, rows, total, firstms,
				   q[i].median, q[i].median / q[first].median,
				   second <= i ? q[i].median / q[second].median : 1.0);
		}
		fflush(stdout);
	}
	PQfinish(conn);
	return 0;
}
