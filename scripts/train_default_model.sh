#!/usr/bin/env bash
# Train the shipped default model: mocolsk-lite, x3 (SDGSAT-1 native case: 30 m LST -> 10 m
# with the 10 guidance bands), on synthetic scenes from the sample-scene generator.
#
# Each generated scene has a 10 m "truth" LST (NAME_lst_fine.tif) on the guidance grid; it is
# used as the HR LST, and `groklst prepare` degrades it by 3 (in radiance, like the generator)
# into the 30 m LR input. Scenes are split whole (--split-by scene): the test scene is never
# seen in training. Seeds 101-108 are not the committed demo scene (seed 0).
#
# Usage: scripts/train_default_model.sh [WORKDIR]   (CPU: 15 minutes on this 2-core machine)
# Result: WORKDIR/run/best.pt; copy it to models/pretrained/mocolsk-lite-x3-sdgsat.pt.
set -euo pipefail

work="${1:-default-model-work}"
groklst="${GROKLST:-groklst}"
mkdir -p "$work/generated" "$work/scenes"

for seed in 101 102 103 104 105 106 107 108; do
    name="synth$seed"
    "$groklst" -q sample-scene "$work/generated" --name "$name" --size 96 --seed "$seed" \
        --with-truth --overwrite > /dev/null
    # HR training pair: the 10 m truth LST with the 10 m guidance.
    cp "$work/generated/${name}_lst_fine.tif" "$work/scenes/${name}_lst.tif"
    cp "$work/generated/${name}_guidance.tif" "$work/scenes/${name}_guidance.tif"
done

"$groklst" -q prepare "$work"/scenes/*_lst.tif -o "$work/dataset" --scales 3 --patch 96 \
    --stride 48 --split 6:1:1 --split-by scene --degrade area --aggregate radiance --seed 0 --overwrite

"$groklst" train "$work/dataset" -o "$work/run" --model mocolsk-lite --scale 3 \
    --model-kwargs '{"num_stages": 2}' --iters 1200 --batch-size 4 --crop 48 \
    --val-every 200 --restart-every 1200 --seed 0 --device cpu --overwrite

"$groklst" evaluate "$work/dataset" --checkpoint "$work/run/best.pt" --split test \
    --baselines bicubic,bilinear
