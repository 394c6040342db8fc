"""Face embedders (FaceNet, LightCNN) and the acquisition of their pretrained weights."""
