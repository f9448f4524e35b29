#!/usr/bin/env sh
# Ex-post samplers fitted to a trained run without retraining it (docs/evaluation.md, "Ex-post
# samplers"): each is stored in RUN/priors/NAME beside the run's own files, which stay as they
# were. Ctrl-C during a fit keeps what was done: the same command continues it.
#   genkit train examples/rae_digits.yaml && sh examples/rae_digits_samplers.sh [RUN]
set -eu
RUN="${1:-runs/rae_digits}"
genkit fit-prior "$RUN" --prior code_maf
genkit fit-prior "$RUN" --prior code_vae
genkit fit-prior "$RUN" --prior '{type: code_diffusion, sample_steps: 50}'
genkit fit-prior "$RUN" --prior '{type: code_maf, transforms: 2}' --name maf_small
for prior in code_maf code_vae code_diffusion maf_small; do
    genkit sample "$RUN" --prior "$prior"   # RUN/sample_<prior>.png
done
genkit report "$RUN"   # "Samples by prior": the run's own code_gmm beside each fitted one
