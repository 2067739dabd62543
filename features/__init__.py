"""Audio and datasets in, arrays out: OpenMIC loading, the VGGish chain, the CNN's log-mel, caching."""
