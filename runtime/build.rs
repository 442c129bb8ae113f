//! Compiles the libjpeg-turbo shim of the JPEG decoder (runtime/src/vision/decode/jpeg_shim.c)
//! and links the system libjpeg-turbo (Debian `libjpeg62-turbo-dev`, the 2.1.5 decoder Pillow
//! 10.0 bundles), installed by scripts/setup.sh.
fn main() {
    let shim = "src/vision/decode/jpeg_shim.c";
    println!("cargo:rerun-if-changed={shim}");
    cc::Build::new()
        .file(shim)
        .warnings(true)
        .compile("unival_jpeg_shim");
    println!("cargo:rustc-link-lib=jpeg");
}
