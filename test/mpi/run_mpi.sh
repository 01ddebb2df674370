#!/usr/bin/env bash
# Runs one data-parallel check under mpirun for CTest.
#   run_mpi.sh NP pass|fail MAX_SECONDS PROGRAM ARGS...
# pass: the job must exit 0. fail: it must exit non-zero within MAX_SECONDS (a failing rank must
# never leave the others hanging). Exits 77 (CTest: skipped) with the reason when MPI cannot start
# here. CI runs as root, so Open MPI is told that is allowed.
set -u
np=$1 expect=$2 max=$3
shift 3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# Shared-memory and TCP transports only: containers have no InfiniBand, and the probe for it warns.
mpi_flags=(--oversubscribe --bind-to none --mca btl self,vader,tcp --mca btl_tcp_if_include lo)
if ! command -v mpirun >/dev/null 2>&1; then
  echo "skipped: no mpirun on PATH (install openmpi-bin)"
  exit 77
fi
if ! probe=$(timeout 60 mpirun "${mpi_flags[@]}" -np "$np" true 2>&1); then
  echo "skipped: mpirun cannot start $np ranks here:"
  echo "$probe" | head -20
  exit 77
fi
start=$(date +%s)
# The outer limit only guards CTest: a hang past it is a failure of this test, reported as such.
timeout -s KILL $((max + 60)) mpirun "${mpi_flags[@]}" -np "$np" "$@"
status=$?
elapsed=$(($(date +%s) - start))
echo "run_mpi: exit status $status after ${elapsed}s (expected: $expect, limit ${max}s)"
if [ "$expect" = pass ]; then
  [ $status -eq 0 ] && [ $elapsed -le "$max" ]
  exit $?
fi
if [ $status -eq 137 ] && [ $elapsed -ge "$max" ]; then
  echo "run_mpi: FAILED: the job hung and was killed by the test's own limit"
  exit 1
fi
if [ $status -ne 0 ] && [ $elapsed -le "$max" ]; then
  echo "run_mpi: ok: the other ranks ended the job (exit $status) within ${elapsed}s"
  exit 0
fi
echo "run_mpi: FAILED: expected a non-zero exit within ${max}s"
exit 1
