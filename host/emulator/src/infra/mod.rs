//! Fake kubelet and Cluster API controllers that move workloads and machines through their lifecycles.
