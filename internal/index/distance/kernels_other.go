//go:build !amd64 || noasm

package distance

// kernelSets lists every kernel set available: only the pure-Go one when
// built with the noasm tag or for an architecture without assembly kernels.
func kernelSets() []kernelSet { return []kernelSet{genericSet} }
