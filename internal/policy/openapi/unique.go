package openapi

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"strconv"
	"unsafe"

	"github.com/tiaki-nz/tiaki/internal/policy/content/strictjson"
)

// uniqueLinear is how many items are compared one by one before uniqueItems switches to a map.
const uniqueLinear = 32

// checkUnique enforces uniqueItems for the item just validated, read again from cp: items are
// compared by a hash of their JSON value (numbers by value, objects regardless of member
// order), with a per-process random seed, so only a 2^-64 accident could refuse a valid array.
func (v *validation) checkUnique(cp strictjson.Checkpoint, start int, seen *map[uint64]struct{}) error {
	end := v.d.Save()
	v.d.Restore(cp)
	h, err := v.hashValue()
	if err != nil {
		return v.syntax(err)
	}
	v.d.Restore(end)
	dup := false
	if *seen != nil {
		_, dup = (*seen)[h]
		(*seen)[h] = struct{}{}
	} else {
		for _, x := range v.hashes[start:] {
			if x == h {
				dup = true
				break
			}
		}
		v.hashes = append(v.hashes, h)
		if len(v.hashes)-start > uniqueLinear {
			*seen = make(map[uint64]struct{}, 2*uniqueLinear)
			for _, x := range v.hashes[start:] {
				(*seen)[x] = struct{}{}
			}
		}
	}
	if dup {
		return v.fail("repeats an earlier item (uniqueItems)")
	}
	return nil
}

func (v *validation) hash(kind byte, b []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(v.seed)
	_ = h.WriteByte(kind)
	_, _ = h.Write(b)
	return h.Sum64()
}

func mix(a, b uint64) uint64 {
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], a)
	binary.LittleEndian.PutUint64(buf[8:], b)
	return maphash.Bytes(seedMix, buf[:])
}

var seedMix = maphash.MakeSeed()

// hashValue reads one value and returns its structural hash.
func (v *validation) hashValue() (uint64, error) {
	t, err := v.d.Next()
	if err != nil {
		return 0, err
	}
	switch t.Kind {
	case strictjson.ObjectStart:
		var sum uint64
		for {
			k, err := v.d.Next()
			if err != nil {
				return 0, err
			}
			if k.Kind == strictjson.ObjectEnd {
				return mix(sum, 'o'), nil
			}
			kh := v.hash('k', v.d.Unescape(k))
			vh, err := v.hashValue()
			if err != nil {
				return 0, err
			}
			sum += mix(kh, vh) // order-independent: {"a":1,"b":2} equals {"b":2,"a":1}
		}
	case strictjson.ArrayStart:
		h := uint64('a')
		for {
			cp := v.d.Save()
			e, err := v.d.Next()
			if err != nil {
				return 0, err
			}
			if e.Kind == strictjson.ArrayEnd {
				return mix(h, 'a'), nil
			}
			v.d.Restore(cp)
			eh, err := v.hashValue()
			if err != nil {
				return 0, err
			}
			h = mix(h, eh)
		}
	case strictjson.String:
		return v.hash('s', v.d.Unescape(t)), nil
	case strictjson.Number:
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(t.Raw), len(t.Raw)), 64)
		if err != nil {
			return v.hash('N', t.Raw), nil
		}
		if f == 0 {
			f = 0 // -0 equals 0
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
		return v.hash('n', b[:]), nil
	}
	return v.hash(byte(t.Kind), nil), nil
}
