#!/bin/bash -eu
# ClusterFuzzLite entry: the OSS-Fuzz build script, unchanged.
exec "$SRC/z3fold-harden/ci/oss-fuzz/build.sh"
