//! Links the WinFsp DLL with delay loading, as WinFsp requires (what
//! `winfsp::build::winfsp_link_delayload` emits), for Windows targets only,
//! and not for the CI cross-check (feature `cross-check`), which never
//! links.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "windows"
        || std::env::var_os("CARGO_FEATURE_CROSS_CHECK").is_some()
    {
        return;
    }
    let dll = match var("CARGO_CFG_TARGET_ARCH").as_str() {
        "x86" => "winfsp-x86.dll",
        "aarch64" => "winfsp-a64.dll",
        _ => "winfsp-x64.dll",
    };
    println!("cargo:rustc-link-lib=dylib=delayimp");
    println!("cargo:rustc-link-arg=/DELAYLOAD:{dll}");
}
