//! The `snapsmith` binary: a thin shell over the library. (The initramfs's `/init` is the
//! separate `snapsmith-init` binary, src/bin/snapsmith-init.rs.)
#![warn(clippy::too_many_lines)]

fn main() -> std::process::ExitCode {
    snapsmith::cli::main()
}
