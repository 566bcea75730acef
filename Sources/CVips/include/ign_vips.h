/*
 * ign_vips.h: plain, non-variadic C wrappers over the libvips calls that ign uses.
 *
 * libvips' API is C-variadic (optional arguments as NULL-terminated name/value pairs),
 * which Swift cannot call. Every wrapper here takes fixed arguments. The header is
 * deliberately free of GLib/libvips includes: images are an opaque `IgnVipsImage`, so the
 * Swift side never needs GLib's include paths. Enum values mirror libvips' own
 * (checked with static asserts in ign_vips.c).
 *
 * Conventions: functions returning int return 0 on success and -1 on failure; on failure
 * the reason is in libvips' error buffer (read it with ign_vips_error_take). Output images
 * are new references: release them with ign_vips_unref.
 *
 * libvips keeps one error buffer for the whole process, so while threads run libvips at once
 * a failure's text can gather another's or be lost. Each wrapper's libvips call holds a
 * process-wide lock shared; ign_vips_exclusive_begin takes it alone, so that a failed
 * operation re-run in between gets exactly its own text.
 */
#ifndef IGN_VIPS_H
#define IGN_VIPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque libvips image (a VipsImage). */
typedef struct _VipsImage IgnVipsImage;

/* Band formats (VipsBandFormat). */
#define IGN_FORMAT_UCHAR 0
#define IGN_FORMAT_CHAR 1
#define IGN_FORMAT_USHORT 2
#define IGN_FORMAT_SHORT 3
#define IGN_FORMAT_UINT 4
#define IGN_FORMAT_INT 5
#define IGN_FORMAT_FLOAT 6
#define IGN_FORMAT_COMPLEX 7
#define IGN_FORMAT_DOUBLE 8
#define IGN_FORMAT_DPCOMPLEX 9

/* Interpretations (VipsInterpretation), the ones ign uses. */
#define IGN_INTERPRETATION_MULTIBAND 0
#define IGN_INTERPRETATION_B_W 1
#define IGN_INTERPRETATION_XYZ 12
#define IGN_INTERPRETATION_LAB 13
#define IGN_INTERPRETATION_CMYK 15
#define IGN_INTERPRETATION_LABQ 16
#define IGN_INTERPRETATION_RGB 17
#define IGN_INTERPRETATION_LCH 19
#define IGN_INTERPRETATION_LABS 21
#define IGN_INTERPRETATION_SRGB 22
#define IGN_INTERPRETATION_RGB16 25
#define IGN_INTERPRETATION_GREY16 26
#define IGN_INTERPRETATION_SCRGB 28
#define IGN_INTERPRETATION_HSV 29

/* Resampling kernels (VipsKernel). */
#define IGN_KERNEL_NEAREST 0
#define IGN_KERNEL_LINEAR 1
#define IGN_KERNEL_CUBIC 2
#define IGN_KERNEL_MITCHELL 3
#define IGN_KERNEL_LANCZOS2 4
#define IGN_KERNEL_LANCZOS3 5

/* Edge extension for embed (VipsExtend). */
#define IGN_EXTEND_BLACK 0
#define IGN_EXTEND_COPY 1
#define IGN_EXTEND_REPEAT 2
#define IGN_EXTEND_MIRROR 3
#define IGN_EXTEND_WHITE 4
#define IGN_EXTEND_BACKGROUND 5

/* ---- library state ---- */

/** vips_init; returns 0 on success. Call once, before any other thread uses libvips. */
int ign_vips_init(const char *argv0);
/** vips_cache_set_max(0): no operation cache (ign streams many distinct files). */
void ign_vips_cache_off(void);
/** vips_concurrency_set: the number of worker threads libvips uses per pipeline. */
void ign_vips_concurrency_set(int threads);

/** Drops (on != 0) or restores libvips' GLib warnings on stderr (e.g. "error in tile"
 *  for truncated files; the error itself still reaches the error buffer). */
void ign_vips_silence_warnings(int on);

/**
 * Copies libvips' (process-global) error buffer and clears it, with no libvips call of
 * another thread running meanwhile. Returns a newly allocated NUL-terminated string
 * (possibly empty); free it with ign_vips_free. Outside exclusive mode the text may hold
 * other threads' errors; in it, only this thread's since ign_vips_exclusive_begin.
 */
char *ign_vips_error_take(void);
/** Waits until no other thread is in a wrapper, then holds them all off and clears the error
 *  buffer: the calling thread is in exclusive mode until ign_vips_exclusive_end. Not nested. */
void ign_vips_exclusive_begin(void);
/** Clears the error buffer and lets other threads' libvips calls run again. */
void ign_vips_exclusive_end(void);
/** Whether the calling thread is in exclusive mode. */
int ign_vips_is_exclusive(void);
/** g_free. */
void ign_vips_free(void *p);
/** g_object_unref on an image; NULL is ignored. */
void ign_vips_unref(IgnVipsImage *image);

/* ---- loading ---- */

/**
 * Opens a file with the loader libvips picks from its contents, with fail_on=truncated
 * (fail_on=warning for JPEG, whose damaged scans libjpeg only warns about) and the given access (sequential != 0: one top-to-bottom read; else random). Only the
 * header is read here; pixels decode when the image is used. Brackets in the name are
 * part of the name (libvips' "file.png[options]" syntax is not applied).
 */
int ign_vips_load_file(const char *path, int sequential, IgnVipsImage **out);
/**
 * Same as ign_vips_load_file, from a memory buffer. The bytes are copied, so the caller may
 * release its buffer as soon as this returns.
 */
int ign_vips_load_buffer(const void *data, size_t length, int sequential, IgnVipsImage **out);
/** The name of the loader for this file (by its first bytes, as ign_vips_load_file picks
 *  it), or NULL when no loader knows it. The string is static. */
const char *ign_vips_find_load(const char *path);
/** vips_foreign_find_load_buffer: as ign_vips_find_load, for bytes in memory. */
const char *ign_vips_find_load_buffer(const void *data, size_t length);
/** vips_jpegload_source over a copy of the buffer (fail_on=truncated, sequential access). */
int ign_vips_jpegload_buffer(const void *data, size_t length, IgnVipsImage **out);

/* ---- header ---- */

int ign_vips_width(const IgnVipsImage *image);
int ign_vips_height(const IgnVipsImage *image);
int ign_vips_bands(const IgnVipsImage *image);
/** The band format, an IGN_FORMAT_* value. */
int ign_vips_format(const IgnVipsImage *image);
/** The interpretation, an IGN_INTERPRETATION_* value. */
int ign_vips_interpretation(const IgnVipsImage *image);
/** vips_image_hasalpha. */
int ign_vips_hasalpha(IgnVipsImage *image);
/** The "vips-loader" field (e.g. "pngload"), or NULL. The string belongs to the image. */
const char *ign_vips_loader(const IgnVipsImage *image);

/* ---- conversions ---- */

/** vips_colourspace to an IGN_INTERPRETATION_* value (keeps alpha bands). */
int ign_vips_colourspace(IgnVipsImage *in, IgnVipsImage **out, int space);
/** vips_flatten: remove alpha, compositing onto a constant background of `background` in
 *  every band; max_alpha is the alpha value meaning opaque (255 or 65535). */
int ign_vips_flatten(IgnVipsImage *in, IgnVipsImage **out, double background, double max_alpha);
/** vips_cast to an IGN_FORMAT_* value (values are clipped to the new format's range). */
int ign_vips_cast(IgnVipsImage *in, IgnVipsImage **out, int format);
/** vips_copy with a new interpretation (pixels unchanged). */
int ign_vips_copy_interpretation(IgnVipsImage *in, IgnVipsImage **out, int interpretation);
/** vips_extract_band: `n` bands starting at `band`. */
int ign_vips_extract_band(IgnVipsImage *in, IgnVipsImage **out, int band, int n);

/* ---- geometry ---- */

/** vips_resize with independent horizontal/vertical scale and an IGN_KERNEL_* kernel. */
int ign_vips_resize(IgnVipsImage *in, IgnVipsImage **out, double hscale, double vscale, int kernel);
/** vips_extract_area (crop). */
int ign_vips_extract_area(IgnVipsImage *in, IgnVipsImage **out, int left, int top, int width, int height);
/** vips_embed: place `in` at (x, y) in a width x height image; `extend` is IGN_EXTEND_*,
 *  `background` the constant used by IGN_EXTEND_BACKGROUND (all bands). */
int ign_vips_embed(IgnVipsImage *in, IgnVipsImage **out, int x, int y, int width, int height,
                   int extend, double background);

/* ---- filters ---- */

/** vips_sobel (uchar in -> uchar out, otherwise float). */
int ign_vips_sobel(IgnVipsImage *in, IgnVipsImage **out);
/** vips_canny with the given sigma (float output: thinned gradient magnitude). */
int ign_vips_canny(IgnVipsImage *in, IgnVipsImage **out, double sigma);
/** vips_gaussblur with the given sigma, float precision, and the mask cut where it falls below
 *  min_ampl of its peak (libvips' default of 0.2 leaves a one-tap mask, no blur, for sigma <= 0.5). */
int ign_vips_gaussblur(IgnVipsImage *in, IgnVipsImage **out, double sigma, double min_ampl);
/** The separable mask vips_gaussblur uses for `sigma` and `min_ampl` (vips_gaussmat, float
 *  precision), divided by its scale, into `mask`: returns its width, or -1 on a libvips error,
 *  or -2 when it is wider than `capacity`. */
int ign_vips_gaussian_mask(double sigma, double min_ampl, double *mask, int capacity);
/** vips_median: size x size median filter (vips_rank at the middle index). */
int ign_vips_median(IgnVipsImage *in, IgnVipsImage **out, int size);
/** vips_text: `text` drawn in `font` (a Pango description, "Family Size"), loaded from
 *  `fontfile` when not NULL: one uchar band, ink 255 on 0, cropped to the ink's extent. */
int ign_vips_text(IgnVipsImage **out, const char *text, const char *font, const char *fontfile);
/** vips_black: a width x height image of zeros with `bands` uchar bands. */
int ign_vips_black(IgnVipsImage **out, int width, int height, int bands);

/* ---- memory and output ---- */

/** vips_image_new_from_memory_copy: interleaved (HWC) pixels of an IGN_FORMAT_* format. */
int ign_vips_new_from_memory_copy(const void *data, size_t length, int width, int height,
                                  int bands, int format, IgnVipsImage **out);
/** vips_image_write_to_memory: the interleaved pixels; free with ign_vips_free. NULL on error. */
void *ign_vips_write_to_memory(IgnVipsImage *in, size_t *length);
/** vips_jpegsave_buffer with quality q (1..100); free *buffer with ign_vips_free. */
int ign_vips_jpegsave_buffer(IgnVipsImage *in, void **buffer, size_t *length, int q);
/** vips_image_write_to_buffer: the saver is chosen by `suffix` (".png", ".jpg[Q=90]", ...);
 *  free *buffer with ign_vips_free. */
int ign_vips_write_to_buffer(IgnVipsImage *in, const char *suffix, void **buffer, size_t *length);
/** vips_image_write_to_file: the saver is chosen by the file name's suffix. Not atomic. */
int ign_vips_write_to_file(IgnVipsImage *in, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* IGN_VIPS_H */
