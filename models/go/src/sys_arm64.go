package main

// memfd_create(2), which package syscall does not name (arm64 table).
const sysMemfdCreate = 279
