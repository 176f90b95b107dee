module github.com/opik-attachments/opik-attachments/examples/go

go 1.26

require github.com/opik-attachments/opik-attachments/bindings/go v0.0.0

// The binding from this repository. A program outside the repository drops this line and
// requires a released version instead.
replace github.com/opik-attachments/opik-attachments/bindings/go => ../../bindings/go
