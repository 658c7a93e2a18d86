"""od_common.py — shared helpers for the Python interoperability scripts:
finds the generated object_detection_pb2 module and builds PNG frames
without third-party imaging libraries."""
import os
import struct
import sys
import zlib

# The build generates object_detection_pb2.py (protoc --python_out) into the
# directory named by SPECX_PYGEN (set by ctest), else next to this file.
sys.path.insert(0, os.environ.get("SPECX_PYGEN", os.path.dirname(os.path.abspath(__file__))))
import object_detection_pb2 as pb  # noqa: E402

SYNC = "/object_detection.GRPCImage/ProcessImageSync"
STREAM = "/object_detection.GRPCImage/ProcessImageStreaming"
HEALTH = "/grpc.health.v1.Health/Check"


def png_rgb(width, height, seed=0):
    """An RGB8 PNG of width x height with a simple gradient."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((x + seed) & 255, (y * 3) & 255, (x ^ y) & 255))
        rows.append(bytes(row))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data +
                struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))
