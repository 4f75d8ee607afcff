"""The reliability battery: crashes, injected faults, a full disk and hostile input."""
