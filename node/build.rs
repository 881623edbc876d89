//! Link settings of the Node addon (napi-build sets what each platform needs for a `.node` library).

fn main() {
    napi_build::setup();
}
