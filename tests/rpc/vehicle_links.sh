#!/bin/sh
# vehicle_links.sh BINARY — fails if a program that links only specx_rpc
# (the vehicle side) carries a detector backend or a media library: shared
# libraries through ldd (XNNPACK, FFmpeg, libjpeg-turbo, libpng, darknet),
# and our own detector/codec code through nm (darknet is dlopen'ed, so ldd
# alone would not see its loader).
set -u
bin=${1:?usage: vehicle_links.sh BINARY}
fail=0
libs=$(ldd "$bin") || { echo "ldd $bin failed"; exit 1; }
bad=$(printf '%s\n' "$libs" | grep -Ei 'libXNNPACK|libpthreadpool|libav(format|codec|util)|libswscale|libturbojpeg|libjpeg|libpng|darknet')
if [ -n "$bad" ]; then
  echo "vehicle-side binary links libraries it must not:"
  printf '%s\n' "$bad"
  fail=1
fi
syms=$(nm "$bin" | grep -E ' [TtDdBb] (specx_detector_open|specx_backend_|specx_image_decode|specx_jpeg_encode|specx_png_encode|specx_video_)' )
if [ -n "$syms" ]; then
  echo "vehicle-side binary contains detector/media code:"
  printf '%s\n' "$syms" | head -20
  fail=1
fi
if [ $fail -eq 0 ]; then
  echo "ok: $(printf '%s\n' "$libs" | wc -l) shared libraries, none of them a detector or media library"
fi
exit $fail
