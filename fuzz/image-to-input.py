#!/usr/bin/env python3
"""Turn a disk image into a fuzz input (fuzz/sector_image.hpp): one record,
a 32-bit little-endian sector number and the sector's 512 bytes, for every
sector of the image that is not all zeros.

usage: image-to-input.py IMAGE OUTPUT
"""
import struct
import sys

SECTOR = 512


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    image, output = sys.argv[1:]
    zero = bytes(SECTOR)
    records = []
    with open(image, "rb") as f:
        sector = 0
        while True:
            block = f.read(SECTOR)
            if not block:
                break
            if block != zero[: len(block)]:
                records.append(struct.pack("<I", sector) + block.ljust(SECTOR, b"\0"))
            sector += 1
    if sector >= 1 << 32:
        sys.exit(f"{image}: larger than 2 TiB, which the format cannot address")
    with open(output, "wb") as f:
        f.write(b"".join(records))


if __name__ == "__main__":
    main()
