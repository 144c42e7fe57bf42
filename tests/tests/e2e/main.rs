//! End-to-end tests: the real controller, through `kube::Client`, against the emulator with fake
//! infrastructure and the reference policies. One binary, one module per scenario.

mod backoff;
mod decision_log;
mod deletion;
mod failures;
mod faults;
mod leader;
mod least_privilege;
mod loading;
mod observability;
mod placement;
mod real_cluster;
mod remediation;
mod restart;
mod rollout;
mod seeds;
mod shadow;
mod signals;
mod spec_conflicts;
mod tenants;
mod upgrades;

use std::sync::Once;

/// Runs a scenario `async fn name(backend: Backend) -> Result<()>` as two tests: `name::emulator`
/// (paused clock) and `name::real_apiserver` (a real kube-apiserver, real time).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(start_paused = true)]
            async fn emulator() -> anyhow::Result<()> {
                super::$name(fleetward_tests::Backend::Emulator).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn real_apiserver() -> anyhow::Result<()> {
                super::$name(fleetward_tests::Backend::RealApiServer).await
            }
        }
    };
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .try_init();
        }
    });
}
