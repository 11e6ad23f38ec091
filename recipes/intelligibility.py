"""Fine-tune the bundled model for intelligibility: a waveform STOI term in the loss, on a CPU (70 minutes).

    python recipes/intelligibility.py [--init-from default] [--out runs/intelligibility]

The bundled model's last recipe (recipes/bundled_cpu_speech_long.py) with `stoi_weight=1.0`: the loss also
pays for the STOI of the denoised waveform (torch_stoi's differentiable STOI), and best.pt is picked on
validation STOI. It trades quality for intelligibility; it is not the bundled model. Measured from v10 (one
CPU thread beside a second run, 10,369 steps; validation STOI was flat at 0.922-0.923 from step 6,500 to the
last step, which is what was scored, benchmarks/RESULTS.md):
- whole dev set at 0/5/10 dB: PESQ 1.743, STOI 0.853, SI-SDR 10.36 dB (v10: 1.761 / 0.847 / 10.49);
- peer set at -5..15 dB: PESQ 1.696, STOI 0.828, SI-SDR 8.38 dB (v10: 1.734 / 0.821 / 8.46; NSNet2's STOI 0.827).
`stoi_weight=0.3` gave half the trade: dev 1.759 / 0.852 / 10.48, peer 1.716 / 0.826 / 8.43.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

bundled = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_speech_long.py")))["config"]
config = dataclasses.replace(bundled, out="runs/intelligibility", init_from="default", time_limit_minutes=70,
                             stoi_weight=1.0, select_on="stoi")

if __name__ == "__main__":
    main(config)
