# Inner products shared by the receivers (:mod:`faxcore.modem.qam_core`,
# :mod:`faxcore.modem.v27ter_core`), in C so that the compiler vectorises them: SSE2 pairs
# on any x86-64 (GCC/Clang vector extension; other targets get what they have, or two
# scalars), and four partial sums per output instead of one running sum, so the adds are
# not one long dependency chain (the same products, the sum rounded in another order: a
# last-bit difference, far under any decision's margin).
#
# Every array is read forward and contiguous: ``n`` elements from each pointer, no
# alignment assumed (the callers' memory-safety notes prove the ranges).
#
# * ``fc_fir2(x, hr, hi, n, &yr, &yi)``: yr = sum x[m] hr[m], yi = sum x[m] hi[m].
# * ``fc_fir2f(h, xr, xi, n, &yr, &yi)``: the same in float32 (sums returned as double).
# * ``fc_cdot(cr, ci, ur, ui, n, &zr, &zi)``: z = sum c[m] u[m] (complex).
# * ``fc_lms(cr, ci, ur, ui, n, er, ei)``: c[m] += e conj(u[m]), element by element
#   (exactly the scalar loop's arithmetic).

cdef extern from *:
    """
    #include <string.h>
    /* two doubles: SSE2 on x86-64 (GCC/Clang vector extension; other targets get
       what they have, or two scalars) */
    typedef double fc_v2d __attribute__((vector_size(16)));
    static inline fc_v2d fc_ld(const double *p)
    {
        fc_v2d v;
        memcpy(&v, p, sizeof v);    /* no alignment assumed */
        return v;
    }
    static inline void fc_fir2(const double *restrict x, const double *restrict hr,
                               const double *restrict hi, int n, double *yr, double *yi)
    {
        /* partial sums k = m mod 4: lanes 0, 1 of the *0 vectors, 2, 3 of the *1 */
        fc_v2d ar0 = {0.0, 0.0}, ar1 = {0.0, 0.0}, ai0 = {0.0, 0.0}, ai1 = {0.0, 0.0};
        fc_v2d x0, x1;
        long m = 0, nn = n;
        double tr = 0.0, ti = 0.0;
        for (; m + 4 <= nn; m += 4) {
            x0 = fc_ld(x + m);
            x1 = fc_ld(x + m + 2);
            ar0 += x0 * fc_ld(hr + m);
            ar1 += x1 * fc_ld(hr + m + 2);
            ai0 += x0 * fc_ld(hi + m);
            ai1 += x1 * fc_ld(hi + m + 2);
        }
        for (; m < nn; m++) {
            tr += x[m] * hr[m];
            ti += x[m] * hi[m];
        }
        *yr = ((ar0[0] + tr) + ar0[1]) + (ar1[0] + ar1[1]);
        *yi = ((ai0[0] + ti) + ai0[1]) + (ai1[0] + ai1[1]);
    }
    /* four floats (SSE on x86-64): the V.27ter matched filter, whose input and taps
       float32 holds with ~140 dB to spare (int16 samples, mixed; taps to 1e-7) */
    typedef float fc_v4sf __attribute__((vector_size(16)));
    static inline fc_v4sf fc_ldf(const float *p)
    {
        fc_v4sf v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    static inline void fc_fir2f(const float *restrict h, const float *restrict xr,
                                const float *restrict xi, int n, double *yr, double *yi)
    {
        /* yr = sum h[m] xr[m], yi = sum h[m] xi[m]: eight partial sums each (two
           vectors), in float; the lanes summed in double */
        fc_v4sf ar0 = {0, 0, 0, 0}, ar1 = {0, 0, 0, 0}, ai0 = {0, 0, 0, 0}, ai1 = {0, 0, 0, 0};
        fc_v4sf h0, h1;
        long m = 0, nn = n;
        float tr = 0.0f, ti = 0.0f;
        for (; m + 8 <= nn; m += 8) {
            h0 = fc_ldf(h + m);
            h1 = fc_ldf(h + m + 4);
            ar0 += h0 * fc_ldf(xr + m);
            ar1 += h1 * fc_ldf(xr + m + 4);
            ai0 += h0 * fc_ldf(xi + m);
            ai1 += h1 * fc_ldf(xi + m + 4);
        }
        for (; m < nn; m++) {
            tr += h[m] * xr[m];
            ti += h[m] * xi[m];
        }
        ar0 += ar1;
        ai0 += ai1;
        *yr = ((double)ar0[0] + (double)ar0[1]) + ((double)ar0[2] + (double)ar0[3]) + (double)tr;
        *yi = ((double)ai0[0] + (double)ai0[1]) + ((double)ai0[2] + (double)ai0[3]) + (double)ti;
    }
    static inline void fc_cdot(const double *restrict cr, const double *restrict ci,
                               const double *restrict ur, const double *restrict ui,
                               int n, double *zr, double *zi)
    {
        fc_v2d ar0 = {0.0, 0.0}, ar1 = {0.0, 0.0}, ai0 = {0.0, 0.0}, ai1 = {0.0, 0.0};
        fc_v2d c0, c1, d0, d1, u0, u1, v0, v1;
        long m = 0, nn = n;
        double tr = 0.0, ti = 0.0;
        for (; m + 4 <= nn; m += 4) {
            c0 = fc_ld(cr + m);
            c1 = fc_ld(cr + m + 2);
            d0 = fc_ld(ci + m);
            d1 = fc_ld(ci + m + 2);
            u0 = fc_ld(ur + m);
            u1 = fc_ld(ur + m + 2);
            v0 = fc_ld(ui + m);
            v1 = fc_ld(ui + m + 2);
            ar0 += c0 * u0 - d0 * v0;
            ar1 += c1 * u1 - d1 * v1;
            ai0 += c0 * v0 + d0 * u0;
            ai1 += c1 * v1 + d1 * u1;
        }
        for (; m < nn; m++) {
            tr += cr[m] * ur[m] - ci[m] * ui[m];
            ti += cr[m] * ui[m] + ci[m] * ur[m];
        }
        *zr = ((ar0[0] + tr) + ar0[1]) + (ar1[0] + ar1[1]);
        *zi = ((ai0[0] + ti) + ai0[1]) + (ai1[0] + ai1[1]);
    }
    static inline void fc_lms(double *restrict cr, double *restrict ci,
                              const double *restrict ur, const double *restrict ui,
                              int n, double er, double ei)
    {
        long m, nn = n;
        for (m = 0; m < nn; m++) {
            cr[m] += er * ur[m] + ei * ui[m];
            ci[m] += ei * ur[m] - er * ui[m];
        }
    }
    """
    void fc_fir2(const double *x, const double *hr, const double *hi, int n,
                 double *yr, double *yi) noexcept nogil
    void fc_fir2f(const float *h, const float *xr, const float *xi, int n,
                  double *yr, double *yi) noexcept nogil
    void fc_cdot(const double *cr, const double *ci, const double *ur, const double *ui,
                 int n, double *zr, double *zi) noexcept nogil
    void fc_lms(double *cr, double *ci, const double *ur, const double *ui, int n,
                double er, double ei) noexcept nogil
