#!/usr/bin/env bash
# nbd_boot.sh - booting a chain through the plugin: the test writes a 512-byte boot sector
# (real-mode code printing a string on COM1, then halting) into the top of a generated VHD and
# VHDX chain through the plugin (writable=true, nbdsh), serves the chain read-only and boots
# it with qemu-system-x86_64 -nographic, whose serial console must show the string; the levels
# below the top are unchanged. Skips (77) without qemu-system-x86_64 (Debian qemu-system-x86).
# Run by ctest (tests/nbd.cmake, label nbd).
. "$(dirname "$0")/nbd_lib.sh"
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "SKIP: qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
  exit 77
fi
MSG=VHDFOLD-NBD-BOOT-OK
QEMUS=()
# qemu first (SIGTERM through timeout), then nbd_lib's cleanup stops the servers
trap 'boot_rc=$?; for q in "${QEMUS[@]}"; do kill "$q" 2>/dev/null || true; wait "$q" 2>/dev/null || true; done
(exit $boot_rc); nbd_cleanup' EXIT

# The boot sector, at 0x7C00: cli; cld; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3F8;
# next: lodsb; test al,al; jz halt; out dx,al; jmp next; halt: hlt; jmp halt; msg: MSG\r\n\0;
# zeros up to the 0x55 0xAA signature.
bootsector() {
  python3 - "$MSG" <<'PY'
import sys
code = bytes.fromhex("fa fc 31c0 8ed8 be177c baf803 ac 84c0 7403 ee ebf8 f4 ebfd")
assert len(code) == 0x17
sec = code + sys.argv[1].encode() + b"\r\n\0"
sys.stdout.buffer.write(sec + bytes(510 - len(sec)) + b"\x55\xaa")
PY
}
bootsector >"$T/boot.bin"
[ "$(stat -c %s "$T/boot.bin")" = 512 ] || fail "the boot sector is not 512 bytes"

for fmt in vhd vhdx; do
  name=boot-$fmt
  gen "$name" "$fmt" aligned 2 31
  before=$(cd "$T/$name" && sha256sum 00-* 01-*)
  serve "$name-w" file="$TOP" writable=true || fail "$name: writable refused: $(cat "$T/$name-w.log")"
  nbdsh -u "$URI" -c "h.pwrite(open('$T/boot.bin', 'rb').read(), 0); h.flush()"
  stop "$PID"
  expect_eq "$(cd "$T/$name" && sha256sum 00-* 01-*)" "$before" "$name: levels below the top"
  "$VHDFOLD" export "$TOP" "$T/$name.raw"
  cmp -s -n 512 "$T/$name.raw" "$T/boot.bin" ||
    fail "$name: the chain does not start with the boot sector"
  rm -f "$T/$name.raw"

  serve "$name" file="$TOP" || fail "$name: refused: $(cat "$T/$name.log")"
  # timeout relays SIGTERM to qemu (a SIGKILL would orphan it, and nbdkit would wait for its
  # connection)
  timeout 120 qemu-system-x86_64 -nographic -no-reboot -m 32 -boot c \
    -drive "file=$URI,format=raw,snapshot=on,if=ide" </dev/null >"$T/$name.serial" 2>&1 &
  qpid=$!
  QEMUS+=("$qpid")
  for i in $(seq 1 1200); do
    grep -q "$MSG" "$T/$name.serial" && break
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$qpid" 2>/dev/null || true
  wait "$qpid" 2>/dev/null || true
  grep -q "$MSG" "$T/$name.serial" ||
    fail "$name: qemu's serial console did not show $MSG: $(tail -c 400 "$T/$name.serial")"
  stop "$PID"
  echo "ok $name: booted through the plugin after ${i}00 ms of polling"
done
echo "nbd_boot: a VHD and a VHDX chain booted by qemu-system-x86_64 through the plugin"
