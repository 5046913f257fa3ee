#!/usr/bin/env bash
# Trains the five pretrained RL² MDP agents (n = 10, 25, 50, 75, 100) side by side.
#
#   DEVICE=cuda MINUTES=8 bash assets/checkpoints/train-mdp.sh runs/mdp
#
# Each run gets the same wall-clock budget (--minutes: the lr and entropy schedules span it).
# The assets in this folder were made on one GPU machine (see README.md here for the machine,
# the wall time and each run's result); on a CPU this recipe is about 10x slower per update.
# Afterwards: python -m rl2_course export runs/mdp/mdp-nN assets/checkpoints/mdp-nN.pt
# (the n=10 file is kept as mdp-n10-gpu.pt: mdp-n10.pt is now the CPU run of issue 26). The
# last --set line restores the MDP defaults of the time (settings.MDP_RECIPE came later).
set -euo pipefail
out=${1:-runs/mdp}
device=${DEVICE:-cuda}
minutes=${MINUTES:-8}
mkdir -p "$out"
for n in 10 25 50 75 100; do
    # about 100k steps per update; whole-trial backprop at n=10, 100-step segments beyond
    trials=$((100000 / (10 * n)))
    bptt=$([ "$n" -le 10 ] && echo none || echo 100)
    python -m rl2_course train mdp --episodes "$n" --seed 0 --out "$out/mdp-n$n" --quiet \
        --device "$device" --minutes "$minutes" \
        --set hidden_size=256 --set trials_per_update="$trials" --set bptt_length="$bptt" \
        --set learning_rate=0.001 --set entropy_coef=0.02 --set entropy_coef_final=0.002 \
        --set num_threads=2 --set checkpoint_every=10 \
        --set minibatch_size=none --set target_kl=none --set update_gate_bias=0 --set entropy_hold=0 \
        > "$out/mdp-n$n.out" 2>&1 &
done
wait
