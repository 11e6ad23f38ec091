"""Write a manifest (CSV with path and duration) of the audio files under one or more folders.

    python tools/make_manifest.py data/speech -o speech.csv

The training recipes accept the CSV wherever they accept a folder (`--speech speech.csv`).
Unreadable files are listed on stderr and left out.
"""
import argparse
import csv
import os
import sys

import soundfile as sf

from speechdae.data import list_audio


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    base = os.path.dirname(os.path.abspath(a.output))
    rows = []
    for path in list_audio(a.folders):
        try:
            info = sf.info(str(path))
        except Exception as e:  # soundfile raises several types for unreadable files
            print(f"skipped {path}: {e}", file=sys.stderr)
            continue
        rows.append({"path": os.path.relpath(os.path.abspath(path), base), "duration_s": round(info.duration, 3),
                     "sample_rate": info.samplerate, "channels": info.channels})
    with open(a.output, "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "duration_s", "sample_rate", "channels"])
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} files, {sum(r['duration_s'] for r in rows) / 60:.1f} min -> {a.output}")


if __name__ == "__main__":
    main()
