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
    const JOCTET *tail;     /* the fake EOI, served once the file is used up */
    size_t tail_len;
    int tail_served;
} shim_source_mgr;

static const JOCTET fake_eoi[2] = {0xFF, 0xD9};

static void noop(j_decompress_ptr cinfo) { (void)cinfo; }

/* Serves the fake EOI once after the file; then suspends, as Pillow's decoder does when its
 * caller has no more bytes. */
static boolean fill_input(j_decompress_ptr cinfo) {
    shim_source_mgr *src = (shim_source_mgr *)cinfo->src;
    if (src->pub.bytes_in_buffer == 0 && !src->tail_served) {
        src->tail_served = 1;
        src->pub.next_input_byte = src->tail;
        src->pub.bytes_in_buffer = src->tail_len;
        return TRUE;
    }
    return FALSE;
}

/* Skipping past the end of the data consumes everything (Pillow keeps the remaining skip for
 * bytes that never come). */
static void skip_input(j_decompress_ptr cinfo, long num_bytes) {
    shim_source_mgr *src = (shim_source_mgr *)cinfo->src;
    if (num_bytes <= 0) {
        return;
    }
    while ((size_t)num_bytes > src->pub.bytes_in_buffer) {
        num_bytes -= (long)src->pub.bytes_in_buffer;
        src->pub.next_input_byte += src->pub.bytes_in_buffer;
        src->pub.bytes_in_buffer = 0;
        if (src->tail_served) {
            return;
        }
        src->tail_served = 1;
        src->pub.next_input_byte = src->tail;
        src->pub.bytes_in_buffer = src->tail_len;
    }
    src->pub.next_input_byte += num_bytes;
    src->pub.bytes_in_buffer -= (size_t)num_bytes;
}

static void error_exit(j_common_ptr cinfo) {
    shim_error_mgr *err = (shim_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void silent(j_common_ptr cinfo) { (void)cinfo; }

/*
 * Decodes `data[0..len)` into `out`, `height` rows of `width * components` bytes, row by row;
 * rows never reached are left untouched. `components` is 1, 3 or 4 (Pillow's L, RGB, CMYK).
 * Returns a SHIM_* code; `rows_done` receives the number of rows written and `message` (of
 * `message_len` bytes) libjpeg's text for SHIM_ERROR.
 */
int unival_jpeg_decode(const uint8_t *data, size_t len, uint8_t *out, uint32_t width,
                       uint32_t height, int components, uint32_t *rows_done, char *message,
                       size_t message_len) {
    /* volatile: read after longjmp. */
    struct jpeg_decompress_struct cinfo;
    shim_error_mgr err;
    shim_source_mgr src;
    volatile uint32_t y = 0;
    volatile int status = SHIM_COMPLETE;
    JSAMPARRAY row = NULL;
    size_t row_bytes = (size_t)width * (size_t)components;

    *rows_done = 0;
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
    src.tail = fake_eoi;
    src.tail_len = sizeof fake_eoi;
    cinfo.src = &src.pub;

    {
        int ok;
        do {
            ok = jpeg_read_header(&cinfo, FALSE);
        } while (ok == JPEG_HEADER_TABLES_ONLY);
        if (ok == JPEG_SUSPENDED) {
            status = SHIM_SUSPENDED;
            goto done;
        }
    }
    cinfo.out_color_space =
        components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    if (!jpeg_start_decompress(&cinfo)) {
        status = SHIM_SUSPENDED;
        goto done;
    }
    if (cinfo.output_width != width || cinfo.output_components != components) {
        snprintf(err.message, sizeof err.message,
                 "libjpeg decodes %ux%u with %d components, the header says %ux%u with %d",
                 cinfo.output_width, cinfo.output_height, cinfo.output_components, width,
                 height, components);
        longjmp(err.jump, 1);
    }
    row = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, (JDIMENSION)row_bytes, 1);
    while (y < height) {
        if (jpeg_read_scanlines(&cinfo, row, 1) != 1) {
            status = SHIM_SUSPENDED;
            goto done;
        }
        memcpy(out + (size_t)y * row_bytes, row[0], row_bytes);
        y++;
    }
    /* Pillow ignores whether finishing suspends once every row is out. */
    (void)jpeg_finish_decompress(&cinfo);
done:
    jpeg_destroy_decompress(&cinfo);
    *rows_done = y;
    return status;
}
