/*
 * Decodes a JPEG through libjpeg-turbo the way Pillow 10.0's `JpegDecode.c` drives it, for
 * `runtime/src/vision/decode/jpeg.rs`.
 *
 * Why C: libjpeg reports fatal errors through `error_exit`, which must not return; the only safe
 * way out is `longjmp`, and a `longjmp` must never cross Rust frames. Everything between the
 * `setjmp` and the return stays in this file.
 *
 * Pillow's behaviour reproduced here:
 *   - a suspending source: the whole file followed by one extra EOI marker (what Pillow's
 *     `load_read` appends at end of file when LOAD_TRUNCATED_IMAGES is set); when libjpeg asks for
 *     more data the decode stops, keeping the scanlines already written;
 *   - jpeg_read_header(require_image = FALSE) repeated while it finds tables only;
 *   - the input colour space trusted from libjpeg; output GRAYSCALE (1 layer), RGB (3) or
 *     CMYK (4); every other setting left at libjpeg's defaults (ISLOW DCT, fancy upsampling,
 *     block smoothing);
 *   - a fatal libjpeg error stops the decode, keeping the scanlines already written.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

/* Outcome codes, mirrored in jpeg.rs. */
#define SHIM_COMPLETE 0
#define SHIM_SUSPENDED 1
#define SHIM_ERROR 2

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} shim_error_mgr;

typedef struct {
    struct jpeg_source_mgr pub;
    j_decompress_ptr cinfo;
    size_t skip;     /* bytes still to skip when more data arrives */
    int tail_served; /* whether the 2 bytes of fake EOI after the file were handed out */
} shim_source_mgr;

static void noop(j_decompress_ptr cinfo) { (void)cinfo; }

/* Always suspends, as Pillow's source does; the driver loop below then appends the fake EOI
 * once (Pillow hands the unconsumed bytes back followed by the new ones, which the contiguous
 * `file + FF D9` buffer reproduces) and resumes the same libjpeg call. */
static boolean fill_input(j_decompress_ptr cinfo) {
    (void)cinfo;
    return FALSE;
}

/* Skipping past the end of the data consumes it and remembers the rest of the skip for the next
 * bytes, like Pillow's `skip_input_data`. */
static void skip_input(j_decompress_ptr cinfo, long num_bytes) {
    shim_source_mgr *src = (shim_source_mgr *)cinfo->src;
    if (num_bytes <= 0) {
        return;
    }
    if ((size_t)num_bytes > src->pub.bytes_in_buffer) {
        src->skip = (size_t)num_bytes - src->pub.bytes_in_buffer;
        src->pub.next_input_byte += src->pub.bytes_in_buffer;
        src->pub.bytes_in_buffer = 0;
    } else {
        src->pub.next_input_byte += num_bytes;
        src->pub.bytes_in_buffer -= (size_t)num_bytes;
        src->skip = 0;
    }
}

/* Pillow's next `decode` call after a suspension, with the 2 bytes of fake EOI as its new data:
 * returns 0 when there is nothing more to give or a pending skip swallows it all. */
static int append_fake_eoi(shim_source_mgr *src) {
    size_t pending;
    if (src->tail_served) {
        return 0;
    }
    src->tail_served = 1;
    src->pub.bytes_in_buffer += 2; /* the buffer always ends at the end of the file here */
    if (src->skip > 0) {
        pending = src->skip;
        src->skip = 0;
        skip_input(src->cinfo, (long)pending);
        if (src->skip > 0) {
            return 0;
        }
    }
    return 1;
}

static void error_exit(j_common_ptr cinfo) {
    shim_error_mgr *err = (shim_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void silent(j_common_ptr cinfo) { (void)cinfo; }

enum { STAGE_HEADER, STAGE_START, STAGE_SCANLINES, STAGE_DONE };

/* One entry into Pillow's `ImagingJpegDecode` state machine: advances `p->stage` as far as the data
 * allows; returns 1 when libjpeg suspended for want of data. Errors longjmp out. */
typedef struct {
    int stage;
    JSAMPARRAY row; /* one scanline, from libjpeg's image pool */
} shim_progress;

static int run_stage(j_decompress_ptr cinfo, shim_progress *p, volatile uint32_t *y, uint8_t *out,
                     uint32_t width, uint32_t height, int components) {
    size_t row_bytes = (size_t)width * (size_t)components;
    if (p->stage == STAGE_HEADER) {
        int ok;
        do {
            ok = jpeg_read_header(cinfo, FALSE);
        } while (ok == JPEG_HEADER_TABLES_ONLY);
        if (ok == JPEG_SUSPENDED) {
            return 1;
        }
        cinfo->out_color_space =
            components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
        p->stage = STAGE_START;
    }
    if (p->stage == STAGE_START) {
        if (!jpeg_start_decompress(cinfo)) {
            return 1;
        }
        if (cinfo->output_width != width || cinfo->output_components != components) {
            shim_error_mgr *err = (shim_error_mgr *)cinfo->err;
            snprintf(err->message, sizeof err->message,
                     "libjpeg decodes %u columns with %d components, the header says %u with %d",
                     cinfo->output_width, cinfo->output_components, width, components);
            longjmp(err->jump, 1);
        }
        p->row = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE,
                                            (JDIMENSION)row_bytes, 1);
        p->stage = STAGE_SCANLINES;
    }
    while (*y < height) {
        if (jpeg_read_scanlines(cinfo, p->row, 1) != 1) {
            return 1;
        }
        memcpy(out + (size_t)*y * row_bytes, p->row[0], row_bytes);
        *y += 1;
    }
    /* Pillow ignores whether finishing suspends once every row is out. */
    (void)jpeg_finish_decompress(cinfo);
    p->stage = STAGE_DONE;
    return 0;
}

/*
 * Decodes the file `data[0..len)` into `out`, `height` rows of `width * components` bytes, row
 * by row; rows never reached are left untouched. `components` is 1, 3 or 4 (Pillow's L, RGB,
 * CMYK). `data[len..len + 2)` must hold FF D9, the EOI marker Pillow appends at end of file.
 * Returns a SHIM_* code; `rows_done` receives the number of rows written, `damaged` whether the
 * data ran short or libjpeg warned about corrupt data, and `message` (of `message_len` bytes)
 * libjpeg's text for SHIM_ERROR.
 */
int unival_jpeg_decode(const uint8_t *data, size_t len, uint8_t *out, uint32_t width,
                       uint32_t height, int components, uint32_t *rows_done, int *damaged,
                       char *message, size_t message_len) {
    /* volatile: read after longjmp. */
    struct jpeg_decompress_struct cinfo;
    shim_error_mgr err;
    shim_source_mgr src;
    volatile uint32_t y = 0;
    volatile int status = SHIM_COMPLETE;
    shim_progress progress = {STAGE_HEADER, NULL};

    *rows_done = 0;
    *damaged = 1;
    if (message_len > 0) {
        message[0] = '\0';
    }
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = error_exit;
    err.pub.output_message = silent;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        *rows_done = y;
        if (message_len > 0) {
            snprintf(message, message_len, "%s", err.message);
        }
        return SHIM_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    memset(&src, 0, sizeof src);
    src.pub.init_source = noop;
    src.pub.fill_input_buffer = fill_input;
    src.pub.skip_input_data = skip_input;
    src.pub.resync_to_restart = jpeg_resync_to_restart;
    src.pub.term_source = noop;
    src.pub.next_input_byte = data;
    src.pub.bytes_in_buffer = len;
    cinfo.src = &src.pub;

    src.cinfo = &cinfo;
    for (;;) {
        int suspended = run_stage(&cinfo, &progress, &y, out, width, height, components);
        if (progress.stage == STAGE_DONE) {
            break;
        }
        if (suspended && !append_fake_eoi(&src)) {
            status = SHIM_SUSPENDED;
            break;
        }
    }
    *damaged = src.tail_served || err.pub.num_warnings > 0;
    jpeg_destroy_decompress(&cinfo);
    *rows_done = y;
    return status;
}
