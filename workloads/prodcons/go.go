package main

// prodcons in Go: P producer goroutines and C consumer goroutines share one
// channel of messages, `make(chan Message, B)`.
//
// Capacity is Go's own channel semantics, which the spec borrows: with B > 0
// the channel's buffer holds exactly B values and a send blocks while it is
// full, so at most B messages are sent and not yet received; with B = 0 the
// channel is unbuffered and a send completes only when a receiver takes the
// value (the runtime copies it straight from the sender to the receiver).
//
// Termination, as a Go programmer writes it: a sync.WaitGroup counts the
// producers, one more goroutine waits on it and closes the channel, and each
// consumer ranges over the channel until it is closed and drained.
//
// A message carries its payload by value ([S]byte), so every channel
// operation copies it, like the C++ models' Message<S>.

import (
	"fmt"
	"sync"
)

type header struct {
	producer uint32
	reserved uint32
	seq      uint64
	sentNs   int64
}

type payload interface {
	[0]byte | [64]byte | [1024]byte
}

type message[P payload] struct {
	header
	payload P
}

// mix is splitmix64's finaliser, workloads/prodcons/spec.hpp's mix().
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func messagesOf(m, producers, p uint64) uint64 {
	n := m / producers
	if p < m%producers {
		n++
	}
	return n
}

func firstID(m, producers, p uint64) uint64 {
	extra := m % producers
	if p < extra {
		extra = p
	}
	return p*(m/producers) + extra
}

// stamp is spec.hpp's stamp(): header, payload bytes = the sequence number's
// low byte, and the clock read last, just before the send.
func stamp[P payload](msg *message[P], producer uint32, seq uint64) {
	msg.producer = producer
	msg.reserved = 0
	msg.seq = seq
	for i := 0; i < len(msg.payload); i++ {
		msg.payload[i] = byte(seq)
	}
	msg.sentNs = nanotime()
}

type tally struct {
	count, idSum, idHash, orderErrors, payloadErrors, producerErrors uint64
}

// take is spec.hpp's take(), called right after the receive returned.
func take[P payload](t *tally, last []uint64, m, producers uint64, msg *message[P], latency *Histogram) {
	latency.Record(uint64(nanotime() - msg.sentNs))
	if uint64(msg.producer) >= producers {
		t.producerErrors++
		return
	}
	t.count++
	id := firstID(m, producers, uint64(msg.producer)) + msg.seq
	t.idSum += id
	t.idHash += mix(id)
	if msg.seq+1 <= last[msg.producer] {
		t.orderErrors++
	}
	last[msg.producer] = msg.seq + 1
	// Variable indices: a constant 0 would not compile for [0]byte.
	if first, lastByte := 0, len(msg.payload)-1; lastByte >= 0 {
		expect := byte(msg.seq)
		if msg.payload[first] != expect || msg.payload[lastByte] != expect {
			t.payloadErrors++
		}
	}
}

// verifyProdcons is spec.cpp's verify(), with its messages.
func verifyProdcons(m uint64, tallies []tally) Verdict {
	var all tally
	for _, t := range tallies {
		all.count += t.count
		all.idSum += t.idSum
		all.idHash += t.idHash
		all.orderErrors += t.orderErrors
		all.payloadErrors += t.payloadErrors
		all.producerErrors += t.producerErrors
	}
	if all.producerErrors != 0 {
		return fail(fmt.Sprintf("%d messages named a producer that does not exist", all.producerErrors))
	}
	if all.count != m {
		return fail(fmt.Sprintf("expected %d messages consumed, got %d", m, all.count))
	}
	var wantSum, wantHash uint64
	for id := uint64(0); id < m; id++ {
		wantSum += id
		wantHash += mix(id)
	}
	if all.idSum != wantSum || all.idHash != wantHash {
		return fail(fmt.Sprintf("the %d messages consumed are not each message exactly once (id sum %d expected %d)",
			m, all.idSum, wantSum))
	}
	if all.orderErrors != 0 {
		return fail(fmt.Sprintf("%d messages arrived out of their producer's order", all.orderErrors))
	}
	if all.payloadErrors != 0 {
		return fail(fmt.Sprintf("%d payloads arrived damaged", all.payloadErrors))
	}
	return pass()
}

// prodcons in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/prodcons/spec.cpp's operations().
func init() {
	register("prodcons", workload{run: runProdcons, operations: func(p Params) uint64 { return p.U("messages") }})
}

func runProdcons(p Params, probe *Probe) error {
	switch p.U("payload") {
	case 0:
		prodcons[[0]byte](p, probe)
	case 64:
		prodcons[[64]byte](p, probe)
	default:
		prodcons[[1024]byte](p, probe)
	}
	return nil
}

func prodcons[P payload](p Params, probe *Probe) {
	m := p.U("messages")
	producers := p.U("producers")
	consumers := p.U("consumers")
	capacity := p.U("capacity")

	hists := probe.LatencyHistograms(int(consumers))
	tallies := make([]tally, consumers)
	last := make([]uint64, consumers*producers)
	if capacity == 0 {
		probe.Note("channel", "unbuffered chan (rendezvous): a send completes when a receiver takes the value")
	} else {
		probe.Note("channel", fmt.Sprintf("buffered chan of capacity %d", capacity))
	}
	probe.Note("termination", "a goroutine waits on a sync.WaitGroup of the producers, then closes the channel; consumers range over it")

	probe.Start()
	ch := make(chan message[P], capacity)
	var producing, consuming sync.WaitGroup
	producing.Add(int(producers))
	consuming.Add(int(consumers))
	for i := uint64(0); i < producers; i++ {
		go func(i uint64) {
			defer producing.Done()
			n := messagesOf(m, producers, i)
			var msg message[P]
			for seq := uint64(0); seq < n; seq++ {
				stamp(&msg, uint32(i), seq)
				ch <- msg
			}
		}(i)
	}
	for c := uint64(0); c < consumers; c++ {
		go func(c uint64) {
			defer consuming.Done()
			t := &tallies[c]
			seen := last[c*producers : (c+1)*producers]
			h := hists[c]
			for msg := range ch {
				take(t, seen, m, producers, &msg, h)
			}
		}(c)
	}
	go func() {
		producing.Wait()
		close(ch)
	}()
	consuming.Wait()
	probe.Stop()
	probe.Verify(verifyProdcons(m, tallies))
}
