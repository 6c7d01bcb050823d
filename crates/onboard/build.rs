//! Rebuilds the binary when the bundled example program changes (it is compiled in).
fn main() {
    println!("cargo:rerun-if-changed=../../program");
}
