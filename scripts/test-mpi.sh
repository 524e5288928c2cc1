#!/usr/bin/env bash
# The MPI backend's checks (feature `mpi`), each job under `timeout`: tests/mpi_pool.rs launches real
# mpirun jobs (one host with 3 ranks, two simulated hosts, another binary as the agents, a killed agent
# rank), then the example runs on its own and under `mpirun -np 3`. Needs Open MPI and libclang
# (scripts/install-deps.sh installs them). Run from the repository root; `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The example is the other binary of the unknown-worker job: built first, next to the test.
cargo build -q --features mpi --example mpi_pool
# A missing mpirun is a failure here, not a skip.
MULTIPROC_REQUIRE_MPI=1 timeout 900 cargo test --features mpi --test mpi_pool
echo "--- example mpi_pool on its own, then under mpirun -np 3"
timeout 300 cargo run -q --features mpi --example mpi_pool | tee /tmp/multiproc-mpi-example.$$
grep -qx "sum of squares 0..100000 = 333328333350000 on 1 ranks (backend local)" /tmp/multiproc-mpi-example.$$
timeout 300 mpirun --oversubscribe --bind-to none -np 3 target/debug/examples/mpi_pool | tee /tmp/multiproc-mpi-example.$$
grep -qx "sum of squares 0..100000 = 333328333350000 on 3 ranks (backend mpi)" /tmp/multiproc-mpi-example.$$
rm -f /tmp/multiproc-mpi-example.$$
