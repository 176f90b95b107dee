module github.com/opik-attachments/opik-attachments/bindings/go

go 1.26
