"""What the machine has (NVML probe, host RAM, CPUs, disk) and what GPUs one can rent (the catalog)."""
