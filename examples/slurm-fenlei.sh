#!/bin/bash
# Data-parallel fenlei training on 2 Slurm nodes x 4 GPUs: one torchrun per node, rendezvous on
# the first node. Submit with `sbatch examples/slurm-fenlei.sh configs/sst2-minilm.yaml runs/sst2-ddp`.
# The run directory must be on a disk all nodes see (for --resume); rank 0 alone writes it.
#SBATCH --job-name=fenlei
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --signal=TERM@120   # SIGTERM to torchrun (it passes it on) 2 minutes before the limit: fenlei checkpoints
set -euo pipefail
CONFIG=${1:?usage: sbatch slurm-fenlei.sh CONFIG RUN_DIR}
RUN_DIR=${2:?usage: sbatch slurm-fenlei.sh CONFIG RUN_DIR}
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
# A requeued or resubmitted job continues where the last one stopped.
if [ -d "$RUN_DIR/checkpoints" ]; then ARGS=(--resume "$RUN_DIR"); else ARGS=("$CONFIG" -o "$RUN_DIR"); fi
srun torchrun \
  --nnodes "$SLURM_NNODES" --nproc_per_node 4 \
  --rdzv-backend c10d --rdzv-endpoint "$HEAD:29500" --rdzv-id "$SLURM_JOB_ID" \
  -m fenlei train "${ARGS[@]}" --quiet
