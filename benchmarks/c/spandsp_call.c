/* spandsp at its best: the benchmark's fax calls run entirely in C (no Python, no ctypes).
 *
 * Built at benchmark time by benchmarks/density.py (cc -O2 ... -lspandsp) into a temp dir.
 *
 *   spandsp_call TX.tif RXDIR MODEM ECM PAIRS SECONDS STAGGER WARMUP
 *
 * Runs PAIRS back-to-back calls (calling station sending TX.tif, answering station
 * receiving into RXDIR/rx<i>.tif), 160-sample (20 ms) blocks, exactly as faxcore's
 * testing.line.run_call plays them. Pair i starts STAGGER*i seconds of line time late,
 * each call is restarted (a fresh pair) when both of its stations have finished, so all
 * call phases mix. After WARMUP seconds of line time, SECONDS more are measured:
 * prints one line of key=value pairs: cpu (process CPU seconds of the measured part),
 * station_seconds (stations x line seconds, counting only stations in a call), calls
 * (completed calls in the measured part), ok (calls that ended with T30_ERR_OK),
 * worst_window (the CPU seconds of the most expensive 1-second window of line time).
 * With PAIRS=1, STAGGER=0, WARMUP=0, SECONDS=0 it runs one call to its end and prints
 * line (its line seconds) and cpu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <inttypes.h>
#include <tiffio.h>
#include <spandsp.h>

#define BLOCK 160

typedef struct {
    fax_state_t *a, *b;
    int status_a, status_b;   /* -1 while running */
    long start_block;         /* the block at which this pair starts (stagger) */
    int slot;
} pair_t;

static const char *g_tx, *g_rxdir;
static int g_modems, g_ecm;

static void phase_e(t30_state_t *s, void *user, int code)
{
    (void) s;
    *(int *) user = code;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static fax_state_t *station(int calling, int *status, int slot)
{
    char path[4096];
    fax_state_t *f = fax_init(NULL, calling);
    t30_state_t *t;
    if (f == NULL) {
        fprintf(stderr, "fax_init failed\n");
        exit(2);
    }
    fax_set_transmit_on_idle(f, 1);
    t = fax_get_t30_state(f);
    if (calling) {
        t30_set_tx_file(t, g_tx, -1, -1);
    } else {
        snprintf(path, sizeof(path), "%s/rx%d.tif", g_rxdir, slot);
        t30_set_rx_file(t, path, -1);
    }
    t30_set_ecm_capability(t, g_ecm);
    t30_set_supported_modems(t, g_modems);
    t30_set_supported_compressions(t, T30_SUPPORT_T4_1D_COMPRESSION
                                   | T30_SUPPORT_T4_2D_COMPRESSION | T30_SUPPORT_T6_COMPRESSION);
    *status = -1;
    t30_set_phase_e_handler(t, phase_e, status);
    return f;
}

static void start(pair_t *p)
{
    p->a = station(1, &p->status_a, p->slot);
    p->b = station(0, &p->status_b, p->slot);
}

static void finish(pair_t *p)
{
    fax_free(p->a);
    fax_free(p->b);
    p->a = p->b = NULL;
}

int main(int argc, char **argv)
{
    int pairs, i;
    double seconds, stagger, warmup;
    long blocks_warm, blocks_total, blk;
    int16_t x[BLOCK], y[BLOCK];
    pair_t *p;
    long calls = 0, ok = 0;
    double station_seconds = 0.0, t0 = 0.0, win0 = 0.0, worst = 0.0;
    int single;

    if (argc != 9) {
        fprintf(stderr, "usage: %s TX.tif RXDIR MODEM ECM PAIRS SECONDS STAGGER WARMUP\n", argv[0]);
        return 2;
    }
    g_tx = argv[1];
    g_rxdir = argv[2];
    if (strcmp(argv[3], "v17") == 0)
        g_modems = T30_SUPPORT_V17;
    else if (strcmp(argv[3], "v29") == 0)
        g_modems = T30_SUPPORT_V29;
    else
        g_modems = T30_SUPPORT_V27TER;
    g_ecm = atoi(argv[4]);
    pairs = atoi(argv[5]);
    seconds = atof(argv[6]);
    stagger = atof(argv[7]);
    warmup = atof(argv[8]);
    single = (pairs == 1 && seconds == 0.0);
    p = calloc(pairs, sizeof(*p));
    for (i = 0; i < pairs; i++) {
        p[i].slot = i;
        p[i].start_block = (long) (stagger * i * 8000.0 / BLOCK);
        p[i].a = p[i].b = NULL;
    }
    blocks_warm = (long) (warmup * 8000.0 / BLOCK);
    blocks_total = single ? 1800L * 8000 / BLOCK : blocks_warm + (long) (seconds * 8000.0 / BLOCK);
    t0 = cpu_now();
    for (blk = 0; blk < blocks_total; blk++) {
        if (blk == blocks_warm) {
            t0 = win0 = cpu_now();
        } else if (blk > blocks_warm && (blk - blocks_warm) % (8000 / BLOCK) == 0) {
            double now = cpu_now();
            if (now - win0 > worst)
                worst = now - win0;
            win0 = now;
        }
        for (i = 0; i < pairs; i++) {
            pair_t *q = &p[i];
            if (blk < q->start_block)
                continue;
            if (q->a == NULL)
                start(q);
            fax_tx(q->a, x, BLOCK);
            fax_tx(q->b, y, BLOCK);
            fax_rx(q->a, y, BLOCK);
            fax_rx(q->b, x, BLOCK);
            if (blk >= blocks_warm)
                station_seconds += 2.0 * BLOCK / 8000.0;
            if (q->status_a >= 0 && q->status_b >= 0) {
                if (single) {
                    double cpu = cpu_now() - t0;
                    printf("line=%.2f cpu=%.6f ok=%d\n", (blk + 1) * (double) BLOCK / 8000.0, cpu,
                           q->status_a == T30_ERR_OK && q->status_b == T30_ERR_OK);
                    finish(q);
                    return 0;
                }
                if (blk >= blocks_warm) {
                    calls++;
                    ok += q->status_a == T30_ERR_OK && q->status_b == T30_ERR_OK;
                }
                finish(q);
                start(q);
            }
        }
    }
    {
        double cpu = cpu_now() - t0;
        if (single) {
            fprintf(stderr, "call did not end\n");
            return 1;
        }
        printf("cpu=%.6f station_seconds=%.2f calls=%ld ok=%ld worst_window=%.6f\n",
               cpu, station_seconds, calls, ok, worst);
    }
    for (i = 0; i < pairs; i++)
        if (p[i].a)
            finish(&p[i]);
    free(p);
    return 0;
}
