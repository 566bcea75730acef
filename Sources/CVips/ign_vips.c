/* ign_vips.c: fixed-argument wrappers over libvips' variadic API. See include/ign_vips.h. */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>

#include <vips/vips.h>

#include "ign_vips.h"

/* Our constants must equal libvips' enum values. */
_Static_assert(IGN_FORMAT_UCHAR == VIPS_FORMAT_UCHAR, "format");
_Static_assert(IGN_FORMAT_USHORT == VIPS_FORMAT_USHORT, "format");
_Static_assert(IGN_FORMAT_FLOAT == VIPS_FORMAT_FLOAT, "format");
_Static_assert(IGN_FORMAT_DOUBLE == VIPS_FORMAT_DOUBLE, "format");
_Static_assert(IGN_FORMAT_DPCOMPLEX == VIPS_FORMAT_DPCOMPLEX, "format");
_Static_assert(IGN_INTERPRETATION_B_W == VIPS_INTERPRETATION_B_W, "interpretation");
_Static_assert(IGN_INTERPRETATION_CMYK == VIPS_INTERPRETATION_CMYK, "interpretation");
_Static_assert(IGN_INTERPRETATION_LAB == VIPS_INTERPRETATION_LAB, "interpretation");
_Static_assert(IGN_INTERPRETATION_SRGB == VIPS_INTERPRETATION_sRGB, "interpretation");
_Static_assert(IGN_INTERPRETATION_RGB16 == VIPS_INTERPRETATION_RGB16, "interpretation");
_Static_assert(IGN_INTERPRETATION_GREY16 == VIPS_INTERPRETATION_GREY16, "interpretation");
_Static_assert(IGN_INTERPRETATION_SCRGB == VIPS_INTERPRETATION_scRGB, "interpretation");
_Static_assert(IGN_INTERPRETATION_HSV == VIPS_INTERPRETATION_HSV, "interpretation");
_Static_assert(IGN_KERNEL_NEAREST == VIPS_KERNEL_NEAREST, "kernel");
_Static_assert(IGN_KERNEL_LANCZOS3 == VIPS_KERNEL_LANCZOS3, "kernel");
_Static_assert(IGN_EXTEND_COPY == VIPS_EXTEND_COPY, "extend");
_Static_assert(IGN_EXTEND_BACKGROUND == VIPS_EXTEND_BACKGROUND, "extend");

static GMutex error_lock;

/*
 * Every wrapper runs its libvips call holding `ops_lock` shared; a thread in exclusive mode
 * (ign_vips_exclusive_begin) holds it exclusively, so no other thread's libvips call, and no
 * other thread's error text, can run or land in the error buffer meanwhile. Writers go first,
 * so a busy pool of workers cannot starve a retry.
 */
static pthread_rwlock_t ops_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static __thread int exclusive = 0;

static int shared_begin(void) {
    if (exclusive) return 0;
    pthread_rwlock_rdlock(&ops_lock);
    return 1;
}

static void shared_end(int locked) {
    if (locked) pthread_rwlock_unlock(&ops_lock);
}

/* Runs `call` (an expression) holding ops_lock shared, and returns its value. */
#define SHARED(call) do { \
    int locked_ = shared_begin(); \
    __typeof__(call) result_ = (call); \
    shared_end(locked_); \
    return result_; \
} while (0)

void ign_vips_exclusive_begin(void) {
    pthread_rwlock_wrlock(&ops_lock);
    exclusive = 1;
    vips_error_clear();
}

void ign_vips_exclusive_end(void) {
    vips_error_clear();
    exclusive = 0;
    pthread_rwlock_unlock(&ops_lock);
}

int ign_vips_is_exclusive(void) { return exclusive; }

int ign_vips_init(const char *argv0) { return VIPS_INIT(argv0 ? argv0 : "ign"); }
void ign_vips_cache_off(void) { vips_cache_set_max(0); }
void ign_vips_concurrency_set(int threads) { vips_concurrency_set(threads); }

static void drop_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
    (void) domain; (void) level; (void) message; (void) data;
}

void ign_vips_silence_warnings(int on) {
    static guint handler = 0;
    g_mutex_lock(&error_lock);
    if (on && !handler)
        handler = g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, drop_log, NULL);
    else if (!on && handler) {
        g_log_remove_handler("VIPS", handler);
        handler = 0;
    }
    g_mutex_unlock(&error_lock);
}

char *ign_vips_error_take(void) {
    if (!exclusive) pthread_rwlock_wrlock(&ops_lock);
    char *text = g_strdup(vips_error_buffer());
    vips_error_clear();
    if (!exclusive) pthread_rwlock_unlock(&ops_lock);
    return text;
}

void ign_vips_free(void *p) { g_free(p); }

void ign_vips_unref(IgnVipsImage *image) {
    if (image) g_object_unref(image);
}

static VipsAccess access_of(int sequential) {
    return sequential ? VIPS_ACCESS_SEQUENTIAL : VIPS_ACCESS_RANDOM;
}

/*
 * File names go through a VipsSource so that libvips does not read "[...]" in a name as load
 * options ("photo [1].png" is a real file name). Formats without a source loader (e.g.
 * magick for BMP, OpenEXR) fall back to the file-name loader when the name has no '['.
 * The source probe runs with errors frozen so a miss leaves nothing in the error buffer.
 */
/* How strict a load is: truncation fails every format, and for JPEG any libjpeg warning does too
 * (a damaged entropy-coded scan is only a warning in libjpeg: without this it decodes to a
 * half-grey image). */
static VipsFailOn fail_on_for(const char *loader) {
    return loader && strstr(loader, "Jpeg") ? VIPS_FAIL_ON_WARNING : VIPS_FAIL_ON_TRUNCATED;
}

static const char *probe_source(VipsSource *source) {
    vips_error_freeze();
    const char *loader = vips_foreign_find_load_source(source);
    vips_error_thaw();
    return loader;
}

static const char *find_load(const char *path) {
    VipsSource *source = vips_source_new_from_file(path);
    if (!source) return NULL;
    const char *loader = probe_source(source);
    g_object_unref(source);
    if (loader) return loader;
    if (strchr(path, '[')) {
        vips_error("ign", "%s is not in a known format", path);
        return NULL;
    }
    return vips_foreign_find_load(path);
}

static int load_file(const char *path, int sequential, IgnVipsImage **out) {
    *out = NULL;
    VipsSource *source = vips_source_new_from_file(path);
    if (!source) return -1;
    VipsImage *image = NULL;
    const char *loader = probe_source(source);
    if (loader) {
        image = vips_image_new_from_source(source, "",
            "fail_on", fail_on_for(loader),
            "access", access_of(sequential),
            NULL);
        g_object_unref(source);
    } else {
        g_object_unref(source);
        if (strchr(path, '[')) {
            vips_error("ign", "%s is not in a known format", path);
            return -1;
        }
        image = vips_image_new_from_file(path,
            "fail_on", VIPS_FAIL_ON_TRUNCATED,
            "access", access_of(sequential),
            NULL);
    }
    *out = image;
    return image ? 0 : -1;
}

/* The source keeps a reference to a blob holding its own copy of the bytes. */
static VipsSource *source_from_copy(const void *data, size_t length) {
    VipsBlob *blob = vips_blob_copy(data, length);
    if (!blob) return NULL;
    VipsSource *source = vips_source_new_from_blob(blob);
    vips_area_unref(VIPS_AREA(blob));
    return source;
}

static int load_buffer(const void *data, size_t length, int sequential, IgnVipsImage **out) {
    *out = NULL;
    VipsSource *source = source_from_copy(data, length);
    if (!source) return -1;
    VipsImage *image = vips_image_new_from_source(source, "",
        "fail_on", fail_on_for(probe_source(source)),
        "access", access_of(sequential),
        NULL);
    g_object_unref(source);
    *out = image;
    return image ? 0 : -1;
}

const char *ign_vips_find_load_buffer(const void *data, size_t length) {
    SHARED(vips_foreign_find_load_buffer(data, length));
}

static int jpegload_buffer(const void *data, size_t length, IgnVipsImage **out) {
    *out = NULL;
    VipsSource *source = source_from_copy(data, length);
    if (!source) return -1;
    int result = vips_jpegload_source(source, out,
        "fail_on", VIPS_FAIL_ON_TRUNCATED,
        "access", VIPS_ACCESS_SEQUENTIAL,
        NULL);
    g_object_unref(source);
    return result;
}

int ign_vips_width(const IgnVipsImage *image) { return vips_image_get_width(image); }
int ign_vips_height(const IgnVipsImage *image) { return vips_image_get_height(image); }
int ign_vips_bands(const IgnVipsImage *image) { return vips_image_get_bands(image); }
int ign_vips_format(const IgnVipsImage *image) { return (int) vips_image_get_format(image); }
int ign_vips_interpretation(const IgnVipsImage *image) {
    return (int) vips_image_get_interpretation(image);
}
int ign_vips_hasalpha(IgnVipsImage *image) { return vips_image_hasalpha(image) ? 1 : 0; }

const char *ign_vips_loader(const IgnVipsImage *image) {
    const char *name = NULL;
    if (vips_image_get_typeof(image, VIPS_META_LOADER) &&
        !vips_image_get_string(image, VIPS_META_LOADER, &name))
        return name;
    return NULL;
}

int ign_vips_colourspace(IgnVipsImage *in, IgnVipsImage **out, int space) {
    SHARED(vips_colourspace(in, out, (VipsInterpretation) space, NULL));
}

static int flatten(IgnVipsImage *in, IgnVipsImage **out, double background, double max_alpha) {
    int colour_bands = vips_image_get_bands(in) - 1;
    if (colour_bands < 1) colour_bands = 1;
    double values[16];
    if (colour_bands > 16) colour_bands = 16;
    for (int i = 0; i < colour_bands; i++) values[i] = background;
    VipsArrayDouble *bg = vips_array_double_new(values, colour_bands);
    int result = vips_flatten(in, out, "background", bg, "max_alpha", max_alpha, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return result;
}

int ign_vips_cast(IgnVipsImage *in, IgnVipsImage **out, int format) {
    SHARED(vips_cast(in, out, (VipsBandFormat) format, NULL));
}

int ign_vips_copy_interpretation(IgnVipsImage *in, IgnVipsImage **out, int interpretation) {
    SHARED(vips_copy(in, out, "interpretation", (VipsInterpretation) interpretation, NULL));
}

int ign_vips_extract_band(IgnVipsImage *in, IgnVipsImage **out, int band, int n) {
    SHARED(vips_extract_band(in, out, band, "n", n, NULL));
}

int ign_vips_resize(IgnVipsImage *in, IgnVipsImage **out, double hscale, double vscale, int kernel) {
    SHARED(vips_resize(in, out, hscale, "vscale", vscale, "kernel", (VipsKernel) kernel, NULL));
}

int ign_vips_extract_area(IgnVipsImage *in, IgnVipsImage **out, int left, int top, int width, int height) {
    SHARED(vips_extract_area(in, out, left, top, width, height, NULL));
}

static int embed(IgnVipsImage *in, IgnVipsImage **out, int x, int y, int width, int height,
                 int extend, double background) {
    int bands = vips_image_get_bands(in);
    double values[16];
    if (bands > 16) bands = 16;
    for (int i = 0; i < bands; i++) values[i] = background;
    VipsArrayDouble *bg = vips_array_double_new(values, bands);
    int result = vips_embed(in, out, x, y, width, height,
        "extend", (VipsExtend) extend, "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return result;
}

int ign_vips_sobel(IgnVipsImage *in, IgnVipsImage **out) { SHARED(vips_sobel(in, out, NULL)); }

int ign_vips_canny(IgnVipsImage *in, IgnVipsImage **out, double sigma) {
    SHARED(vips_canny(in, out, "sigma", sigma, NULL));
}

int ign_vips_gaussblur(IgnVipsImage *in, IgnVipsImage **out, double sigma, double min_ampl) {
    SHARED(vips_gaussblur(in, out, sigma, "min_ampl", min_ampl, "precision", VIPS_PRECISION_FLOAT, NULL));
}

static int gaussian_mask(double sigma, double min_ampl, double *mask, int capacity) {
    VipsImage *made = NULL, *wide = NULL;
    if (vips_gaussmat(&made, sigma, min_ampl, "separable", TRUE, "precision", VIPS_PRECISION_FLOAT, NULL)) return -1;
    int width = made->Xsize * made->Ysize, result = -1;
    double scale = vips_image_get_scale(made);
    size_t length = 0;
    double *values = NULL;
    if (width > capacity) {
        result = -2;
    } else if (!vips_cast(made, &wide, VIPS_FORMAT_DOUBLE, NULL) && (values = vips_image_write_to_memory(wide, &length))
               && length == (size_t)width * sizeof(double)) {
        for (int i = 0; i < width; i++) mask[i] = values[i] / scale;
        result = width;
    }
    g_free(values);
    if (wide) g_object_unref(wide);
    g_object_unref(made);
    return result;
}

int ign_vips_gaussian_mask(double sigma, double min_ampl, double *mask, int capacity) {
    SHARED(gaussian_mask(sigma, min_ampl, mask, capacity));
}

int ign_vips_median(IgnVipsImage *in, IgnVipsImage **out, int size) {
    SHARED(vips_median(in, out, size, NULL));
}

int ign_vips_text(IgnVipsImage **out, const char *text, const char *font, const char *fontfile) {
    if (fontfile) SHARED(vips_text(out, text, "font", font, "fontfile", fontfile, NULL));
    SHARED(vips_text(out, text, "font", font, NULL));
}

int ign_vips_black(IgnVipsImage **out, int width, int height, int bands) {
    SHARED(vips_black(out, width, height, "bands", bands, NULL));
}

static int new_from_memory_copy(const void *data, size_t length, int width, int height,
                                int bands, int format, IgnVipsImage **out) {
    *out = vips_image_new_from_memory_copy(data, length, width, height, bands,
                                           (VipsBandFormat) format);
    return *out ? 0 : -1;
}

void *ign_vips_write_to_memory(IgnVipsImage *in, size_t *length) {
    SHARED(vips_image_write_to_memory(in, length));
}

int ign_vips_jpegsave_buffer(IgnVipsImage *in, void **buffer, size_t *length, int q) {
    SHARED(vips_jpegsave_buffer(in, buffer, length, "Q", q, NULL));
}

int ign_vips_write_to_buffer(IgnVipsImage *in, const char *suffix, void **buffer, size_t *length) {
    SHARED(vips_image_write_to_buffer(in, suffix, buffer, length, NULL));
}

int ign_vips_write_to_file(IgnVipsImage *in, const char *path) {
    SHARED(vips_image_write_to_file(in, path, NULL));
}

/* The public entry points of the functions above whose bodies take several statements. */
const char *ign_vips_find_load(const char *path) { SHARED(find_load(path)); }

int ign_vips_load_file(const char *path, int sequential, IgnVipsImage **out) {
    SHARED(load_file(path, sequential, out));
}

int ign_vips_load_buffer(const void *data, size_t length, int sequential, IgnVipsImage **out) {
    SHARED(load_buffer(data, length, sequential, out));
}

int ign_vips_jpegload_buffer(const void *data, size_t length, IgnVipsImage **out) {
    SHARED(jpegload_buffer(data, length, out));
}

int ign_vips_flatten(IgnVipsImage *in, IgnVipsImage **out, double background, double max_alpha) {
    SHARED(flatten(in, out, background, max_alpha));
}

int ign_vips_embed(IgnVipsImage *in, IgnVipsImage **out, int x, int y, int width, int height,
                   int extend, double background) {
    SHARED(embed(in, out, x, y, width, height, extend, background));
}

int ign_vips_new_from_memory_copy(const void *data, size_t length, int width, int height,
                                  int bands, int format, IgnVipsImage **out) {
    SHARED(new_from_memory_copy(data, length, width, height, bands, format, out));
}
