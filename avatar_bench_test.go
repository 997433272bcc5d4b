package aistat

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// BenchmarkMakeAvatar turns a phone's 12-megapixel photo (4000×3000 JPEG)
// into the two stored squares.
func BenchmarkMakeAvatar(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := range 3000 {
		for x := range 4000 {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 0xff})
		}
	}
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(photo.Len()))
	for b.Loop() {
		if _, err := MakeAvatar(photo.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
