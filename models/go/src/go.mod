module cmbench/models/go

go 1.19
