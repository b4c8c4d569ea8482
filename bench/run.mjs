// `make bench`: benchmarks print their own raw floor and the ratio to it.
// None exist yet; the fast-provisioning work adds them here.
console.log("no benchmarks yet");
