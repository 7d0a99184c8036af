#!/usr/bin/python3
"""Make a .torrent with libtorrent's own creator, so tests never depend on ccbt's.

The default is a v1-only torrent (what every client speaks); --hybrid makes a v1+v2 torrent and
--v2-only a pure v2 one. The content path's parent directory is the save path a seeder uses.
"""

import argparse
import os
import sys

from ltcommon import lt


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--path", required=True, help="file or folder to make the torrent of")
    p.add_argument("--out", required=True, help="where to write the .torrent")
    p.add_argument("--piece-size", type=int, default=0,
                   help="piece size in bytes (power of two, >= 16384); 0 lets libtorrent choose")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--v1-only", dest="kind", action="store_const", const="v1")
    kind.add_argument("--hybrid", dest="kind", action="store_const", const="hybrid")
    kind.add_argument("--v2-only", dest="kind", action="store_const", const="v2")
    p.add_argument("--tracker", action="append", default=[], metavar="URL")
    p.add_argument("--private", action="store_true")
    p.add_argument("--comment")
    args = p.parse_args()

    path = os.path.abspath(args.path)
    if not os.path.exists(path):
        sys.stderr.write(f"error: {path} does not exist\n")
        return 1
    fs = lt.file_storage()
    # Hidden files are kept: tests choose the content explicitly.
    lt.add_files(fs, path)
    if fs.num_files() == 0:
        sys.stderr.write(f"error: {path} holds no files\n")
        return 1

    flags = 0
    kind = args.kind or "v1"
    if kind == "v1":
        flags |= lt.create_torrent.v1_only
    elif kind == "v2":
        flags |= lt.create_torrent.v2_only
    ct = lt.create_torrent(fs, args.piece_size, flags=flags)
    for tier, url in enumerate(args.tracker):
        ct.add_tracker(url, tier)
    if args.private:
        ct.set_priv(True)
    if args.comment:
        ct.set_comment(args.comment)
    ct.set_creator("ccbt-interop lt_make_torrent (libtorrent " + lt.__version__ + ")")
    lt.set_piece_hashes(ct, os.path.dirname(path))
    data = lt.bencode(ct.generate())
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    ti = lt.torrent_info(args.out)
    ih = ti.info_hashes()
    hashes = []
    if ih.has_v1():
        hashes.append(f"v1 {ih.v1}")
    if ih.has_v2():
        hashes.append(f"v2 {ih.v2}")
    print(
        f"wrote {args.out}: {kind}, {ti.num_files()} files (incl. pad files), "
        f"{ti.total_size()} bytes, {ti.num_pieces()} pieces of {ti.piece_length()}, "
        + ", ".join(hashes)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
