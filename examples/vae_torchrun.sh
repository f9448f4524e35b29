#!/usr/bin/env sh
# examples/vae.yaml trained by NPROC data-parallel processes (default 2) with torchrun.
# Each process takes 64 / NPROC examples per step, so the global batch is 64 as in vae.yaml and
# the run takes the same steps as `genkit train examples/vae.yaml` (equal weights up to float
# rounding). On GPUs it uses NCCL and cuda:LOCAL_RANK; on CPUs gloo. See docs/distributed.md.
#   sh examples/vae_torchrun.sh && genkit eval runs/vae-torchrun
set -eu
NPROC="${NPROC:-2}"
python -m torch.distributed.run --standalone --nproc_per_node="$NPROC" \
    -m genkit_core train examples/vae.yaml \
    --set train.batch_size="$((64 / NPROC))" -o runs/vae-torchrun "$@"
