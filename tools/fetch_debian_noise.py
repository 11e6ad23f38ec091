"""Collect real environmental noise (ambience loops, engines, rain, wind...) from Debian packages of free games.

    python tools/fetch_debian_noise.py [OUT] [--cache DIR] [--set more]

OUT defaults to data/noise-debian (relative to the repo root); `--set more` takes a second, separate list of
packages and files and defaults to data/noise-debian-more, so the first set stays exactly as it was. OUT gets
<category>/<package>__<stem>.flac (16 kHz mono, silence-trimmed, RMS about -25 dBFS, at most 4 minutes),
MANIFEST.csv with the same columns as the development noise manifest, and licenses/<package>.copyright. Needs
apt-get and dpkg-deb (no root: packages are only downloaded and unpacked into a scratch folder). With --cache the
.deb files are kept there and not downloaded again; without it they go to a temporary folder that is removed at
the end.

The packages are pinned (Debian 12 "bookworm") and the files are an explicit list, chosen by file and folder
name, duration, RMS and spectral flatness, so a rerun gives the same result. None of these packages supplies
the held-out dev noise (flightgear-data-base, lincity-ng-data, megaglest-data, redeclipse-data,
scorched3d-data, ufoai-sound); where a package also supplies the training noise, only other files are taken.
"""
import argparse
import csv
import gzip
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from speechdae.audio import read_audio

RATE = 16000
TARGET_DBFS = -25.0
PEAK = 0.98  # never normalise louder than this peak, so nothing clips
MAX_SECONDS = 240  # cap one source at 4 minutes so no single file dominates
MIN_SECONDS = 3.0
SILENT_DBFS = -60.0  # a clip this quiet after trimming carries no usable noise
TRIM_DB = 40  # librosa.effects.trim: frames 40 dB below the loudest count as silence
REPO = Path(__file__).resolve().parent.parent

# Pinned packages: version (apt-get download PKG=VERSION fails loudly if the archive moves on), the licence that
# the package's copyright file gives for the chosen sound files, and a phrase of that file stating it.
PACKAGES = {
    "endless-sky-data": ("0.9.8-1.2", "public-domain (freesound.org)", "Based on public domain sounds"),
    "supertux-data": ("0.6.3-2", "GPL-3+", "License: GPL-3+"),
    "wesnoth-1.16-data": ("1:1.16.9-1", "GPL-2+", "or at your option any later version"),
    "openclonk-data": ("8.1-3", "CC-BY-3.0 or CC0-1.0", "Creative Commons Attribution 3.0"),
    "stormbaancoureur-data": ("2.1.6-3.1", "GPL-3", "General Public License version 3"),
    "caveexpress-data": ("2.5.2-1", "GPL-3+", "License: GPL-3+"),
    "warmux-data": ("1:11.04.1+repack2-4", "GPL-2+", "either version 2 of the License, or"),
    "hedgewars-data": ("1.0.2-6", "GFDL-1.3", "License: GFDL-1.3"),
    # These also supply a few files of the training noise; the files taken here are other ones.
    "flare-game": ("1.14-1", "CC-BY-SA-3.0+", "License: CC-BY-SA-3.0+"),
    "searchandrescue-data": ("1.3.0-1.1", "GPL (version unspecified)", "the GNU General Public License"),
    "torcs-data": ("1.3.7+dfsg-5", "GPL-2+", "License: GPL-2+"),
    "nexuiz-data": ("2.5.2-12", "GPL-2+", "GPL-2"),
    "openarena-data": ("0.8.5split-14", "GPL-2+", "GPL-2"),
}

# (package, path inside the .deb, category). "ARCHIVE:MEMBER" is a member of a .pk3 (zip) or of an OpenClonk
# .ocg group inside the package. Kept: long loops and steady real-world noise; left out: music, voices, UI
# sounds, synthetic drones, clips under 3 s.
ES, ST, WN = "usr/share/games/endless-sky/sounds", "usr/share/games/supertux2/sounds", \
    "usr/share/games/wesnoth/1.16/data/core/sounds/ambient"
OC, CE, FL = "usr/share/games/openclonk/Sound.ocg:", "usr/share/games/caveexpress/sounds", \
    "usr/share/games/flare/mods"
SR, TO = "usr/share/games/searchandrescue/sounds", "usr/share/games/torcs/data/sound"
NX, OA = "usr/share/games/nexuiz/data/data.pk3:sound", "usr/share/games/openarena/baseoa/pak0.pk3:sound/world"
FILES = [
    ("endless-sky-data", f"{ES}/ambient/machinery.mp3", "machinery"),  # 2.7 min steady engine-room hum
    ("supertux-data", f"{ST}/rain.wav", "rain"),
    ("supertux-data", f"{ST}/waterfall.wav", "water"),
    ("wesnoth-1.16-data", f"{WN}/ship.ogg", "water"),  # waves against a wooden hull
    ("wesnoth-1.16-data", f"{WN}/campfire.ogg", "nature"),
    ("wesnoth-1.16-data", f"{WN}/night.ogg", "animals"),  # crickets
    ("wesnoth-1.16-data", f"{WN}/morning.ogg", "animals"),
    ("wesnoth-1.16-data", f"{WN}/birds1.ogg", "animals"),
    ("wesnoth-1.16-data", f"{WN}/birds2.ogg", "animals"),
    ("wesnoth-1.16-data", f"{WN}/birds3.ogg", "animals"),
    ("openclonk-data", f"{OC}Environment.ocg/WindLoop.ogg", "wind"),
    ("openclonk-data", f"{OC}Liquids.ocg/StereoRain.ogg", "rain"),
    ("openclonk-data", f"{OC}Environment.ocg/BirdsLoop.ogg", "animals"),
    ("openclonk-data", f"{OC}Structures.ocg/Furnace.ocg/Loop.ogg", "machinery"),
    ("openclonk-data", f"{OC}Structures.ocg/Pumpjack.ogg", "machinery"),
    ("openclonk-data", f"{OC}Structures.ocg/Elevator.ocg/Moving.ogg", "machinery"),
    ("openclonk-data", f"{OC}Structures.ocg/WheelsTurn.ogg", "machinery"),
    ("stormbaancoureur-data", "usr/share/games/stormbaancoureur/sounds/camaro_s16_le.wav", "vehicle_engine"),
    ("caveexpress-data", f"{CE}/water-rising.ogg", "water"),
    ("caveexpress-data", f"{CE}/tile-waterfall.ogg", "water"),
    ("warmux-data", "usr/share/games/warmux/sound/default/weapons/aircraft_flying.ogg", "aircraft"),
    ("hedgewars-data", "usr/share/games/hedgewars/Data/Sounds/plane.ogg", "aircraft"),
    ("flare-game", f"{FL}/fantasycore/soundfx/environment/wind_loop.ogg", "wind"),
    ("flare-game", f"{FL}/fantasycore/soundfx/environment/cave_wind_loop.ogg", "wind"),
    ("flare-game", f"{FL}/empyrean_campaign/soundfx/environment/rain.ogg", "rain"),
    ("flare-game", f"{FL}/fantasycore/soundfx/environment/forest_owl_loop.ogg", "animals"),
    ("flare-game", f"{FL}/fantasycore/soundfx/environment/bird_twitter_loop.ogg", "animals"),
    ("searchandrescue-data", f"{SR}/hh65/engine_inside.wav", "aircraft"),  # helicopter cabin
    ("searchandrescue-data", f"{SR}/jet_engine_inside.wav", "aircraft"),
    ("searchandrescue-data", f"{SR}/jet_engine_inside2.wav", "aircraft"),
    ("searchandrescue-data", f"{SR}/jet_engine_outside.wav", "aircraft"),
    ("searchandrescue-data", f"{SR}/helicopter_engine_outside2.wav", "aircraft"),
    ("torcs-data", f"{TO}/road-ride.wav", "car_cabin"),  # tyre/road rumble
    ("torcs-data", f"{TO}/ford1b.wav", "vehicle_engine"),
    ("torcs-data", f"{TO}/f360.wav", "vehicle_engine"),
    ("torcs-data", f"{TO}/944.wav", "vehicle_engine"),
    ("torcs-data", f"{TO}/lamborghinidiablo.wav", "vehicle_engine"),
    ("nexuiz-data", f"{NX}/desertfactory/pipewater_loop.wav", "water"),
    ("nexuiz-data", f"{NX}/desertfactory/steam_loop.wav", "fan_hvac"),  # steady hiss
    ("nexuiz-data", f"{NX}/desertfactory/cricket_loop.wav", "animals"),
    ("nexuiz-data", f"{NX}/desertfactory/windhowling_loop.ogg", "wind"),
    ("openarena-data", f"{OA}/drops.wav", "water"),
    ("openarena-data", f"{OA}/wind2.wav", "wind"),
    ("openarena-data", f"{OA}/fire1.wav", "nature"),
    ("openarena-data", f"{OA}/firesoft.wav", "nature"),
]


# The second set (--set more): other packages, none of whose files is in the first set or in the training noise
# (that already has some 0ad, supertuxkart, unknown-horizons and lugaru files; those are left out here).
PACKAGES_MORE = {
    "0ad-data": ("0.0.26-1", "CC-BY-SA-3.0", "License: CC-BY-SA-3.0"),
    "berusky2-data": ("0.12-2", "GPL-2+", "License: GPL-2+"),
    # Per-file licences; the three files taken here are all listed as CC0 (the phrase checks one of them).
    "supertuxkart-data": ("1.4+dfsg-2", "CC0", 'Copyright: 2015 "Alcappuccino"\nLicense: CC0'),
    "widelands-data": ("2:1.1-3", "GPL-2+", "License: GPL-2+"),
    "lugaru-data": ("1.2-6", "CC-BY-SA-3.0", "Wolfire Games <http://www.wolfire.com>\nLicense: CC-BY-SA-3.0"),
    "unknown-horizons": ("2019.1-6", "CC-BY-SA-3.0", "Copyright: Unknown Horizons Team\nLicense: CC-BY-SA-3.0"),
}
AD, B2 = "usr/share/games/0ad/mods/public/public.zip:audio/ambient", "usr/share/games/berusky2/sound/sound"
SK, WL = "usr/share/games/supertuxkart/data/sfx", "usr/share/games/widelands/data/sound"
UH = "usr/share/unknown-horizons/content/audio/sounds"
# Chosen like FILES, plus a cross-correlation check between siblings: of each group of near-copies only one is
# kept (day_temperate_11-14 share one bed, the dayscape gen_* files are mixes containing wind_11, Vitr111/112 and
# day_tropical_10/11 are near-identical, amb_farm_11/13/20 and amb_port_20 overlap others). Left out as well:
# clips under 5 s, a steamboat horn (parnik2) and church bells (chapel), both nearly pure tones.
FILES_MORE = [
    ("0ad-data", f"{AD}/weather/wind_11.ogg", "wind"),
    ("0ad-data", f"{AD}/weather/snowstorm_11.ogg", "wind"),
    ("0ad-data", f"{AD}/weather/thunder_10.ogg", "misc"),
    ("0ad-data", f"{AD}/water/wavecrash_21.ogg", "water"),
    ("0ad-data", f"{AD}/water/waverocky_21.ogg", "water"),
    ("0ad-data", f"{AD}/building/amb_port_10.ogg", "crowd_babble"),  # harbour: distant crowd, gulls, water
    ("0ad-data", f"{AD}/building/amb_port_11.ogg", "crowd_babble"),
    ("0ad-data", f"{AD}/building/amb_port_12.ogg", "crowd_babble"),
    ("0ad-data", f"{AD}/building/amb_port_21.ogg", "crowd_babble"),
    ("0ad-data", f"{AD}/building/amb_farm_10.ogg", "animals"),
    ("0ad-data", f"{AD}/building/amb_farm_12.ogg", "animals"),
    ("0ad-data", f"{AD}/dayscape/day_temperate_12.ogg", "nature"),
    ("0ad-data", f"{AD}/dayscape/day_tropical_10.ogg", "nature"),
    ("berusky2-data", f"{B2}/Vitr111.wav", "wind"),
    ("berusky2-data", f"{B2}/mesto111.wav", "traffic_street"),  # town ambience
    ("berusky2-data", f"{B2}/mesto211.wav", "traffic_street"),
    ("berusky2-data", f"{B2}/mesto311.wav", "traffic_street"),
    ("berusky2-data", f"{B2}/mesto411.wav", "traffic_street"),
    ("berusky2-data", f"{B2}/village.wav", "nature"),
    ("berusky2-data", f"{B2}/les1.wav", "nature"),  # forest
    ("berusky2-data", f"{B2}/swamp1.wav", "animals"),
    ("berusky2-data", f"{B2}/racek1.wav", "animals"),  # seagulls
    ("berusky2-data", f"{B2}/racek2.wav", "animals"),
    ("berusky2-data", f"{B2}/racek3.wav", "animals"),
    ("berusky2-data", f"{B2}/Voda1.wav", "water"),
    ("berusky2-data", f"{B2}/Voda2.wav", "water"),
    ("berusky2-data", f"{B2}/Auto1.wav", "vehicle_engine"),
    ("berusky2-data", f"{B2}/Auto2.wav", "vehicle_engine"),
    ("berusky2-data", f"{B2}/parnik3.wav", "vehicle_engine"),  # steamboat
    ("supertuxkart-data", f"{SK}/lenautile_restaurant.ogg", "crowd_babble"),
    ("supertuxkart-data", f"{SK}/exotic-birds.ogg", "animals"),
    ("supertuxkart-data", f"{SK}/exotic-birds_2.ogg", "animals"),
    ("widelands-data", f"{WL}/atlanteans/saw/benchsaw_00.ogg", "machinery"),
    ("widelands-data", f"{WL}/atlanteans/saw/benchsaw_02.ogg", "machinery"),
    ("widelands-data", f"{WL}/atlanteans/cutting/stonecutter_01.ogg", "machinery"),
    ("widelands-data", f"{WL}/mill/weaving.ogg", "machinery"),
    ("widelands-data", f"{WL}/barbarians/weaver.ogg", "machinery"),
    ("widelands-data", f"{WL}/mill/mill_turning_01.ogg", "machinery"),
    ("widelands-data", f"{WL}/metal/furnace.ogg", "machinery"),
    ("widelands-data", f"{WL}/smiths/sharpening.ogg", "machinery"),  # grindstone
    ("widelands-data", f"{WL}/barbarians/taverns/inn_01.ogg", "kitchen"),  # steady sizzle, 90% above 3 kHz
    ("lugaru-data", "usr/share/games/lugaru/Sounds/DesertAmbient.ogg", "wind"),
    ("unknown-horizons", f"{UH}/lumberjack_long.ogg", "misc"),  # axe chopping
    ("unknown-horizons", f"{UH}/sheepfield.ogg", "animals"),
    ("unknown-horizons", f"{UH}/warehouse.ogg", "misc"),
]
SETS = {"default": (PACKAGES, FILES, "noise-debian"), "more": (PACKAGES_MORE, FILES_MORE, "noise-debian-more")}


def fetch(pkg, version, cache):
    """The package's .deb in `cache`, downloaded with apt-get unless it is already there."""
    found = sorted(cache.glob(f"{pkg}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", f"{pkg}={version}"], cwd=cache, check=True)
        found = sorted(cache.glob(f"{pkg}_*.deb"))
    return found[-1]


def c4group_files(data, prefix=""):
    """Yield (name, bytes) from an OpenClonk C4Group: gzip with a changed magic, a scrambled header, nested groups."""
    # Written here because no packaged library reads C4Group files (OpenClonk's own c4group tool is C++).
    if data[:2] == b"\x1e\x8c":
        data = gzip.decompress(b"\x1f\x8b" + data[2:])
    head = bytearray(b ^ 237 for b in data[:204])  # the header is XOR-ed and every 3 bytes swapped
    for i in range(0, 202, 3):
        head[i], head[i + 2] = head[i + 2], head[i]
    assert head.startswith(b"RedWolf Design GrpFolder"), "not a C4Group"
    count = struct.unpack_from("<i", head, 36)[0]
    base = 204 + 316 * count  # entry contents follow the table of 316-byte entries
    for k in range(count):
        entry = data[204 + 316 * k:204 + 316 * (k + 1)]
        name = entry[:260].split(b"\0")[0].decode("latin-1")
        _, is_group, size, _, offset = struct.unpack_from("<5i", entry, 260)
        blob = data[base + offset:base + offset + size]
        if is_group:
            yield from c4group_files(blob, prefix + name + "/")
        else:
            yield prefix + name, blob


def extract(root, path, scratch):
    """A plain file of the unpacked package, copying it out of a .pk3/.zip or .ocg container first."""
    if ":" not in path:
        return root / path
    archive, member = path.split(":", 1)
    if archive.endswith(".ocg"):
        data = dict(c4group_files((root / archive).read_bytes()))[member]
    else:
        data = zipfile.ZipFile(root / archive).read(member)
    out = scratch / ("member" + Path(member).suffix)
    out.write_bytes(data)
    return out


def dbfs(x):
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def prepare(src):
    """16 kHz mono, trimmed, capped, loudness-normalised; None (with the reason) when unusable."""
    x, _ = read_audio(src, sample_rate=RATE, mono=True)
    x, _ = librosa.effects.trim(x, top_db=TRIM_DB)
    x = x[:MAX_SECONDS * RATE]
    if len(x) < MIN_SECONDS * RATE:
        return None, f"only {len(x) / RATE:.1f} s after trimming"
    level = dbfs(x)
    if level < SILENT_DBFS:
        return None, f"nearly silent ({level:.0f} dBFS)"
    gain = min(10 ** ((TARGET_DBFS - level) / 20), PEAK / np.abs(x).max())
    return (x * gain).astype(np.float32), None


def unique_stems(files):
    """File stem, or parent_stem where one package has two chosen files with the same stem."""
    stems = [(pkg, Path(path.split(":")[-1]).stem) for pkg, path, _ in files]
    return [s if stems.count((pkg, s)) == 1 else f"{Path(path.split(':')[-1]).parent.name}_{s}"
            for (pkg, s), (_, path, _) in zip(stems, files)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", help="output folder (default: data/noise-debian, or data/noise-debian-more)")
    p.add_argument("--cache", help="keep downloaded .deb files here and reuse them on the next run")
    p.add_argument("--set", choices=SETS, default="default", help="which list of packages and files to take")
    a = p.parse_args()
    packages, files, folder = SETS[a.set]
    out = Path(a.out or REPO / "data" / folder)
    (out / "licenses").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="debian-noise-"))
    cache = Path(a.cache) if a.cache else work / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    stems = unique_stems(files)
    rows = []
    try:
        for pkg, (version, licence, phrase) in packages.items():
            deb = fetch(pkg, version, cache)
            root = work / pkg
            # Unpack one package at a time (some are hundreds of MB) and remove it when done.
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            real_version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                          capture_output=True, text=True).stdout.strip()
            copyright_text = (root / f"usr/share/doc/{pkg}/copyright").read_text(errors="replace")
            # The licence was read off the copyright file by hand; check that it still says so.
            assert phrase in copyright_text, f"{pkg}: copyright file no longer says {phrase!r}"
            (out / "licenses" / f"{pkg}.copyright").write_text(copyright_text)
            for (fpkg, path, category), stem in zip(files, stems):
                if fpkg != pkg:
                    continue
                x, why = prepare(extract(root, path, work))
                if x is None:
                    print(f"skipped {pkg} {path}: {why}", file=sys.stderr)
                    continue
                rel = f"{category}/{pkg}__{stem}.flac"
                (out / category).mkdir(exist_ok=True)
                sf.write(out / rel, x, RATE, subtype="PCM_16")
                rows.append([rel, category, pkg, real_version, f"(in the .deb) {path}", licence,
                             f"{len(x) / RATE:.2f}"])
                print(f"{rel}: {len(x) / RATE:.1f} s")
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(out / "MANIFEST.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "category", "debian_package", "version", "original_path", "license", "duration_s"])
        w.writerows(sorted(rows))
    print(f"\n{'category':16s} {'files':>5s} {'minutes':>7s}")
    for cat in sorted({r[1] for r in rows}):
        mine = [float(r[6]) for r in rows if r[1] == cat]
        print(f"{cat:16s} {len(mine):5d} {sum(mine) / 60:7.1f}")
    print(f"{'total':16s} {len(rows):5d} {sum(float(r[6]) for r in rows) / 60:7.1f}")


if __name__ == "__main__":
    main()
