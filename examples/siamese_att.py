"""A Siamese face-embedding CNN trained from scratch with triplet loss on the AT&T faces, judged on unseen people.

30 people train the network (batch-hard triplets with margin 0.5 from batches
of 8 people x 4 images, 56x46 inputs, flips and shifts); the 10 others, drawn
by the seed, are never seen in training. On them it reports verification
accuracy over all their pairs at the threshold that is best on the training
people's pairs, and one-shot identification accuracy (one enrolled image per
person, the other nine named by the nearest enrolled one), averaged over the
10 choices of the enrolled image. Nearest neighbours on raw pixels are shown
for comparison; note that answering "different" for every pair already scores
0.909 over all pairs, so the balanced accuracy is printed too.

    python examples/siamese_att.py [--epochs 40] [--out runs/face/siamese-att]

Training runs through cnnkit.train.fit; with --out it writes a run folder
(weights/last and best, results.csv with the per-epoch verification metrics,
curves.png) that ``cnnkit face verify --embedding`` takes.

Training is 360 steps of 32 images: 2 minutes on two busy CPU cores with
OPENBLAS_NUM_THREADS=1, about 5 minutes there with BLAS's default threads
(which fight over the cores when other work runs). Results vary by a few
points with the thread count, since it changes the float summation order.

The AT&T faces ship with cnnkit (cnnkit.data.load_att_faces). Credit: The ORL
Database of Faces, AT&T Laboratories Cambridge (formerly Olivetti Research
Laboratory).
"""
import argparse

from cnnkit.face.siamese import train_att


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mining", default="batch_hard", choices=["batch_hard", "semi_hard", "batch_all"])
    parser.add_argument("--out", help="write a run folder here")
    args = parser.parse_args()

    model, report = train_att(epochs=args.epochs, run=args.out, seed=args.seed, mining=args.mining)
    print(f"training people: {report['train_people']}")
    print(f"unseen people:   {report['eval_people']}")
    print(f"trained {report['steps']} steps in {report['train_seconds']:.0f} s "
          f"({report['seconds_per_step']:.2f} s per step)")
    print("epoch  loss    active triplets")
    for epoch, (loss, active) in enumerate(zip(report["loss"], report["fraction_active"]), 1):
        print(f"{epoch:5d}  {loss:.4f}  {active:.3f}")
    print(f"threshold (best on training pairs): {report['threshold']:.3f} "
          f"(training pairs accuracy {report['train_verification_accuracy']:.3f})")
    print(f"unseen people, {report['eval_pairs']} pairs ({report['eval_same_pairs']} same):")
    print(f"  verification accuracy      {report['verification_accuracy']:.3f} "
          f"(TPR {report['true_positive_rate']:.3f}, TNR {report['true_negative_rate']:.3f}; "
          f"always 'different' scores {report['all_different_accuracy']:.3f})")
    print(f"  balanced verification      {report['verification_balanced_accuracy']:.3f} "
          f"(threshold {report['balanced_threshold']:.3f}, best balanced on training pairs)")
    print(f"  one-shot identification    {report['one_shot_accuracy']:.3f} (mean over the enrolled image; "
          f"first image enrolled: {report['one_shot_accuracy_first']:.3f})")
    baseline = report["pixel_baseline"]
    print(f"  raw-pixel nearest neighbours, for comparison: verification {baseline['verification_accuracy']:.3f}, "
          f"balanced {baseline['verification_balanced_accuracy']:.3f}, one-shot {baseline['one_shot_accuracy']:.3f}")
    if args.out:
        print(f"run folder written to {args.out}; use it with: cnnkit face verify A B --embedding {args.out}")


if __name__ == "__main__":
    main()
