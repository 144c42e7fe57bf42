//! Behaviour of the Kubernetes API emulator, exercised through an unmodified `kube::Client`
//! (in-process and over HTTP) and, when installed, `kubectl`.

mod api {
    mod cel;
    pub mod common;
    mod crds;
    mod crud;
    mod discovery;
    mod events;
    mod faults;
    mod http;
    mod kubectl;
    mod lists;
    mod patches;
    mod watches;
}
