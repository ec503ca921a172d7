/* spandsp's modems at their best: a receiver or transmitter loop entirely in C.
 *
 * Built at benchmark time by benchmarks/modems.py (cc -O2 ... -lspandsp).
 *
 *   spandsp_modem rx MODEM RATE FILE REPEAT   FILE: int16 host-order 8 kHz samples
 *   spandsp_modem tx MODEM RATE SECONDS REPEAT
 *
 * MODEM: v21, v27ter, v29, v17. 160-sample (20 ms) blocks, spandsp's own BERT as the
 * bit sink/source (as the ctypes benchmark uses it), a fresh modem per repeat. Prints
 * "cpu_per_audio_s=<best of REPEAT>" (process CPU seconds per second of audio).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <inttypes.h>
#include <tiffio.h>
#include <spandsp.h>

#define BLOCK 160

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bert_put(void *user, int bit)
{
    bert_put_bit((bert_state_t *) user, bit);
}

static int bert_get(void *user)
{
    return bert_get_bit((bert_state_t *) user);
}

int main(int argc, char **argv)
{
    const char *mode, *name;
    int rate, repeat, r;
    double best = 1e30;
    int16_t *x = NULL;
    long n = 0;

    if (argc != 6) {
        fprintf(stderr, "usage: %s rx|tx MODEM RATE FILE|SECONDS REPEAT\n", argv[0]);
        return 2;
    }
    mode = argv[1];
    name = argv[2];
    rate = atoi(argv[3]);
    repeat = atoi(argv[5]);
    if (strcmp(mode, "rx") == 0) {
        FILE *f = fopen(argv[4], "rb");
        if (f == NULL) {
            perror(argv[4]);
            return 2;
        }
        fseek(f, 0, SEEK_END);
        n = ftell(f) / 2;
        fseek(f, 0, SEEK_SET);
        x = malloc(n * 2 + 2);
        if (fread(x, 2, n, f) != (size_t) n) {
            fprintf(stderr, "short read\n");
            return 2;
        }
        fclose(f);
    } else {
        n = (long) (atof(argv[4]) * 8000.0);
        x = calloc(BLOCK, 2);
    }
    for (r = 0; r < repeat; r++) {
        bert_state_t *bert = bert_init(NULL, 0, BERT_PATTERN_ITU_O151_23, 1, 10);
        void *s = NULL;
        long i;
        double t0;
        int rx = strcmp(mode, "rx") == 0;
        if (strcmp(name, "v17") == 0)
            s = rx ? (void *) v17_rx_init(NULL, rate, bert_put, bert)
                   : (void *) v17_tx_init(NULL, rate, 0, bert_get, bert);
        else if (strcmp(name, "v29") == 0)
            s = rx ? (void *) v29_rx_init(NULL, rate, bert_put, bert)
                   : (void *) v29_tx_init(NULL, rate, 0, bert_get, bert);
        else if (strcmp(name, "v27ter") == 0)
            s = rx ? (void *) v27ter_rx_init(NULL, rate, bert_put, bert)
                   : (void *) v27ter_tx_init(NULL, rate, 0, bert_get, bert);
        else
            s = rx ? (void *) fsk_rx_init(NULL, &preset_fsk_specs[FSK_V21CH2], FSK_FRAME_MODE_SYNC,
                                          bert_put, bert)
                   : (void *) fsk_tx_init(NULL, &preset_fsk_specs[FSK_V21CH2], bert_get, bert);
        if (s == NULL) {
            fprintf(stderr, "cannot make %s %s %d\n", mode, name, rate);
            return 2;
        }
        t0 = cpu_now();
        for (i = 0; i + BLOCK <= n; i += BLOCK) {
            if (rx) {
                if (strcmp(name, "v17") == 0)
                    v17_rx(s, x + i, BLOCK);
                else if (strcmp(name, "v29") == 0)
                    v29_rx(s, x + i, BLOCK);
                else if (strcmp(name, "v27ter") == 0)
                    v27ter_rx(s, x + i, BLOCK);
                else
                    fsk_rx(s, x + i, BLOCK);
            } else {
                if (strcmp(name, "v17") == 0)
                    v17_tx(s, x, BLOCK);
                else if (strcmp(name, "v29") == 0)
                    v29_tx(s, x, BLOCK);
                else if (strcmp(name, "v27ter") == 0)
                    v27ter_tx(s, x, BLOCK);
                else
                    fsk_tx(s, x, BLOCK);
            }
        }
        t0 = cpu_now() - t0;
        if (t0 < best)
            best = t0;
        if (strcmp(name, "v17") == 0)
            rx ? v17_rx_free(s) : v17_tx_free(s);
        else if (strcmp(name, "v29") == 0)
            rx ? v29_rx_free(s) : v29_tx_free(s);
        else if (strcmp(name, "v27ter") == 0)
            rx ? v27ter_rx_free(s) : v27ter_tx_free(s);
        else
            rx ? fsk_rx_free(s) : fsk_tx_free(s);
        bert_free(bert);
    }
    printf("cpu_per_audio_s=%.9f\n", best / (n / 8000.0));
    free(x);
    return 0;
}
