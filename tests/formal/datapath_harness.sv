// Proof 1: the SST engine datapath, decoder -> sign-select lanes -> adder tree.
//
// Property: for every code word and every activation vector, arbitrary on
// every clock cycle (anyseq), the adder tree's true sum (sum + cout) equals
// the dot product of the code's decoded ternary vector with the
// activations, LDEC + LREST cycles after the code entered the decoder and
// LREST cycles after the activations entered the lanes (the components'
// latency attributes). The decoded vectors are a constant table, from
// Codebook (every code value, unused ones as the zero vector); the
// reference is a sum of +/- activations, no multiplier.
//
// Placeholders @NAME@ are filled in by tests/formal/datapath.py; the design
// (@DUT@) is the emitted Verilog of the real components, never edited.
module datapath_harness(input clk);
    localparam SIMD = @SIMD@;          // subvectors per beat
    localparam N = @N@;                // weights per subvector
    localparam A = @A@;                // activation bits
    localparam ASIGNED = @ASIGNED@;    // activations two's complement
    localparam B = @B@;                // code bits
    localparam S = @S@;                // width of the tree's sum
    localparam CW = @CW@;              // bits compared (S when the tree is capped)
    localparam RW = @RW@;              // width of the reference sum
    localparam LDEC = @LDEC@;          // decoder latency
    localparam LREST = @LREST@;        // lane + tree latency

    (* anyseq *) wire [SIMD*B-1:0] code;
    (* anyseq *) wire [SIMD*N*A-1:0] act;
    wire [S-1:0] sum;
    wire cout;

    @DUT@ dut(.clk(clk), .rst(1'b0), .code(code), .act(act), .sum(sum), .cout(cout));

@DECODE@

    // Codes of LDEC cycles ago (the decoder's output meets today's activations).
    reg [LDEC*SIMD*B-1:0] code_h;
    always @(posedge clk)
        code_h <= {code_h, code};
    wire [SIMD*B-1:0] code_now = code_h[(LDEC-1)*SIMD*B +: SIMD*B];

    // The reference dot product of this cycle's lane inputs.
    reg signed [RW-1:0] ref_now;
    reg signed [RW-1:0] x;
    reg [2*N-1:0] w;
    integer s, j;
    always @* begin
        ref_now = 0;
        for (s = 0; s < SIMD; s = s + 1) begin
            w = vec(code_now[s*B +: B]);
            for (j = 0; j < N; j = j + 1) begin
                if (ASIGNED)
                    x = $signed(act[(s*N + j)*A +: A]);
                else
                    x = $signed({1'b0, act[(s*N + j)*A +: A]});
                if (w[2*j])
                    ref_now = ref_now + x;
                if (w[2*j + 1])
                    ref_now = ref_now - x;
            end
        end
    end

    // ... delayed by the lanes and the tree.
    reg [(LREST+1)*RW-1:0] ref_h;
    always @(posedge clk)
        ref_h <= {ref_h, ref_now};
    wire signed [RW-1:0] ref_out = (LREST == 0) ? ref_now
                                 : ref_h[((LREST == 0) ? 0 : LREST - 1)*RW +: RW];

    // Steps since the start, saturating: the pipeline is full after LDEC + LREST.
    reg [7:0] steps = 0;
    always @(posedge clk)
        if (steps != 8'hff)
            steps <= steps + 1;

    wire signed [RW-1:0] got = $signed(sum) + $signed({1'b0, cout});
    always @* begin
        if (steps >= LDEC + LREST)
            assert (got[CW-1:0] == ref_out[CW-1:0]);
    end
endmodule
