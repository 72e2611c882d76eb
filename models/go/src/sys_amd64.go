package main

// memfd_create(2), which package syscall does not name (x86_64 table).
const sysMemfdCreate = 319
