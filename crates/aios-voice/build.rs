//! piper-rs vendors espeak-ng, whose build expects libsonic; Debian's libsonic-dev
//! (installed by `make setup`) provides it, and it must be linked explicitly.

fn main() {
    println!("cargo:rustc-link-lib=sonic");
}
