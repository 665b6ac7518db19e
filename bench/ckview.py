#!/usr/bin/env python3
"""bench/ckview.py: look into a meta-model file (protobuf Checkpoint, proto/fedmeta.proto)
without protobuf libraries, for diagnostics.

  bench/ckview.py MODEL                      print the small views (beta, gamma, tau, alpha, eta, kappa)
  bench/ckview.py MODEL OUT VIEW VALUE ...   write a copy with every float of VIEW set to
                                             VALUE (pairs may repeat), e.g. W_u2 0 b_u2 0
                                             to score without the towers' term
The copy keeps every byte but those floats (a meta-model file has no checksum; a
resumable checkpoint.fmck does and is not for this tool)."""
import struct
import sys


def varint(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def fields(b):
    """(field, value, start of value) of each top-level field of a message."""
    i = 0
    while i < len(b):
        k, i = varint(b, i)
        f, t = k >> 3, k & 7
        if t == 0:
            v, i = varint(b, i)
            yield f, v, None
        elif t == 2:
            n, i = varint(b, i)
            yield f, b[i:i + n], i
            i += n
        elif t == 5:
            yield f, b[i:i + 4], i
            i += 4
        elif t == 1:
            yield f, b[i:i + 8], i
            i += 8
        else:
            sys.exit("ckview: unsupported wire type %d" % t)


def views_of(b, path):
    """{view name: (offset, floats)} and the byte offset of theta in the file's bytes b."""
    views, theta = {}, None
    for f, v, at in fields(bytes(b)):
        if f == 9:  # ViewInfo: name 1, offset 2, rows 3, cols 4
            d = {g: w for g, w, _ in fields(v)}
            views[d.get(1, b"").decode()] = (d.get(2, 0), d.get(3, 0) * d.get(4, 0))
        elif f == 10:
            theta = at
    if theta is None or not views:
        sys.exit("ckview: %s: no theta or views (not a meta-model file?)" % path)
    return views, theta


def main():
    if not (len(sys.argv) == 2 or (len(sys.argv) >= 5 and len(sys.argv) % 2 == 1)):
        sys.exit(__doc__)
    b = bytearray(open(sys.argv[1], "rb").read())
    views, theta = views_of(b, sys.argv[1])
    if len(sys.argv) == 2:
        for name in ("beta", "gamma", "tau", "alpha", "eta", "kappa"):
            o, n = views.get(name, (0, 0))
            if n:
                x = struct.unpack_from("<%df" % n, b, theta + 4 * o)
                print(name, " ".join("%.3f" % y for y in x))
        return
    for name, val in zip(sys.argv[3::2], sys.argv[4::2]):
        if name not in views:
            sys.exit("ckview: no view %s (views: %s)" % (name, ", ".join(views)))
        o, n = views[name]
        for q in range(n):
            struct.pack_into("<f", b, theta + 4 * (o + q), float(val))
    tmp = sys.argv[2] + ".tmp"
    open(tmp, "wb").write(b)
    import os
    os.replace(tmp, sys.argv[2])


if __name__ == "__main__":
    main()
