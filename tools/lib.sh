# Shared settings for pgmove's tools (sourced, not run).
# PGMOVE_CACHE: where the test kernels and host tools live, outside the repo.
PGMOVE_CACHE=${PGMOVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmove}
PGMOVE_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian's rustc (it has rust-src); a rustup toolchain earlier on PATH has none.
PGMOVE_RUSTC=${PGMOVE_RUSTC:-/usr/bin/rustc}
PGMOVE_BINDGEN=${PGMOVE_BINDGEN:-$PGMOVE_CACHE/tools/bin/bindgen}
PGMOVE_KMAKE=(LLVM=-19 RUSTC="$PGMOVE_RUSTC" HOSTRUSTC="$PGMOVE_RUSTC" BINDGEN="$PGMOVE_BINDGEN")
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
